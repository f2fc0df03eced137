import type { FixedRatio, PixelSize, Resolution } from './provider.js'

type SizeTable = Partial<Record<FixedRatio, Partial<Record<Resolution, PixelSize>>>>

function size(spec: string): PixelSize {
  const [width, height] = spec.split('x').map(Number)
  return { width: width ?? 0, height: height ?? 0 }
}

function table(rows: Record<FixedRatio, [string, string, string?]>): SizeTable {
  const result: SizeTable = {}
  for (const [ratio, [k1, k2, k4]] of Object.entries(rows) as [FixedRatio, [string, string, string?]][]) {
    result[ratio] = { '1k': size(k1), '2k': size(k2), ...(k4 ? { '4k': size(k4) } : {}) }
  }
  return result
}

/**
 * gpt-image-1.5-official on toapis: size (ratio) × resolution → pixels (providers.md §1.3).
 * 4k exists only for the wide and tall ratios.
 */
export const gptImageSizes: SizeTable = table({
  '1:1': ['1024x1024', '2048x2048'],
  '3:2': ['1536x1024', '2048x1360'],
  '2:3': ['1024x1536', '1360x2048'],
  '4:3': ['1024x768', '2048x1536'],
  '3:4': ['768x1024', '1536x2048'],
  '5:4': ['1280x1024', '2560x2048'],
  '4:5': ['1024x1280', '2048x2560'],
  '16:9': ['1536x864', '2048x1152', '3840x2160'],
  '9:16': ['864x1536', '1152x2048', '2160x3840'],
  '2:1': ['2048x1024', '2688x1344', '3840x1920'],
  '1:2': ['1024x2048', '1344x2688', '1920x3840'],
  '21:9': ['2016x864', '2688x1152', '3840x1648'],
  '9:21': ['864x2016', '1152x2688', '1648x3840'],
})

/** gpt-image-1.5 through the OpenAI image API (OpenAI itself, and aa): three sizes, 1k only (providers.md §2, §3). */
export const gptImageApiSizes: SizeTable = {
  '1:1': { '1k': { width: 1024, height: 1024 } },
  '3:2': { '1k': { width: 1536, height: 1024 } },
  '2:3': { '1k': { width: 1024, height: 1536 } },
}

/** Ratios that have a given resolution in a table, for fix hints. */
export function ratiosWith(sizes: SizeTable, resolution: Resolution): FixedRatio[] {
  return (Object.keys(sizes) as FixedRatio[]).filter((ratio) => sizes[ratio]?.[resolution] !== undefined)
}

/** The ratio of a table closest to `width / height` (used for `ratio: auto` by the local provider). */
export function nearestRatio(sizes: SizeTable, width: number, height: number): FixedRatio {
  const target = Math.log(width / height)
  let best: FixedRatio = '1:1'
  let bestDistance = Number.POSITIVE_INFINITY
  for (const ratio of Object.keys(sizes) as FixedRatio[]) {
    const [w, h] = ratio.split(':').map(Number)
    const distance = Math.abs(Math.log((w ?? 1) / (h ?? 1)) - target)
    if (distance < bestDistance) {
      best = ratio
      bestDistance = distance
    }
  }
  return best
}
