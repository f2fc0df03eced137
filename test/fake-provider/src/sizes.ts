/**
 * toapis gpt-image-1.5-official: size (ratio) × resolution → pixels (providers.md §1.3).
 * Copied from packages/core/src/providers/sizes.ts on purpose: the fake must not agree with the
 * client by construction, so a wrong entry in core shows up as a failing test.
 */

export type ToapisRatio = '1:1' | '3:2' | '2:3' | '4:3' | '3:4' | '5:4' | '4:5' | '16:9' | '9:16' | '2:1' | '1:2' | '21:9' | '9:21'
export type ToapisResolution = '1k' | '2k' | '4k'

export interface PixelSize {
  width: number
  height: number
}

function px(spec: string): PixelSize {
  const [width, height] = spec.split('x').map(Number)
  return { width: width ?? 0, height: height ?? 0 }
}

const rows: Record<ToapisRatio, [string, string, string?]> = {
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
}

/** The whole table. A missing resolution means the ratio does not support it. */
export const toapisSizes: Record<ToapisRatio, Partial<Record<ToapisResolution, PixelSize>>> = Object.fromEntries(
  Object.entries(rows).map(([ratio, [k1, k2, k4]]) => [ratio, { '1k': px(k1), '2k': px(k2), ...(k4 ? { '4k': px(k4) } : {}) }]),
) as Record<ToapisRatio, Partial<Record<ToapisResolution, PixelSize>>>

/** Every ratio toapis accepts besides `auto`. */
export const TOAPIS_RATIOS = Object.keys(rows) as ToapisRatio[]

/** Whether `value` is a fixed toapis ratio. */
export function isToapisRatio(value: string): value is ToapisRatio {
  return Object.hasOwn(rows, value)
}

/** Pixel size of a ratio at a resolution, or undefined when the combination does not exist. */
export function toapisPixelSize(ratio: string, resolution: string): PixelSize | undefined {
  if (!isToapisRatio(ratio)) return undefined
  return toapisSizes[ratio][resolution as ToapisResolution]
}

/** The ratio that has `resolution` and is closest to `width / height` (our choice for `size: auto`). */
export function nearestToapisRatio(width: number, height: number, resolution: ToapisResolution): ToapisRatio {
  const target = Math.log(width / height)
  let best: ToapisRatio = '1:1'
  let bestDistance = Number.POSITIVE_INFINITY
  for (const ratio of TOAPIS_RATIOS) {
    if (!toapisSizes[ratio][resolution]) continue
    const [w, h] = ratio.split(':').map(Number)
    const distance = Math.abs(Math.log((w ?? 1) / (h ?? 1)) - target)
    if (distance < bestDistance) {
      best = ratio
      bestDistance = distance
    }
  }
  return best
}
