import type { Job } from '../manifest/job.js'
import { ProviderError } from '../providers/http.js'
import type { OutputFormat, PixelSize, ProviderId } from '../providers/provider.js'
import type { ImageRecord, ResultStore } from '../store/store.js'

/** Largest image accepted from a provider; anything bigger is not a 4k edit. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024

/** What a result is checked against: the format and (unless `ratio: auto`) the size the request asked for. */
export interface Expected {
  provider: ProviderId
  format: OutputFormat
  size?: PixelSize
}

/** The expectations of a job's requests. */
export function expectedOf(job: Job): Expected {
  return { provider: job.provider, format: job.params.format, ...(job.size ? { size: job.size } : {}) }
}

/** A verified result, stored; with what was odd about it. */
export interface AcceptedImage {
  image: ImageRecord
  /** Plain sentences: a size other than asked, a format converted locally. */
  warnings: string[]
}

/**
 * Accepts a paid result: decodes it fully with sharp (a valid header over garbage data is not an
 * image), converts another format into the asked one locally, keeps another size with a warning
 * (the image was paid for; its real size is recorded), then stores it. Throws a
 * {@link ProviderError} only when the bytes are not a usable image at all.
 */
export async function acceptResult(bytes: Uint8Array, expected: Expected, store: ResultStore): Promise<AcceptedImage> {
  const fail = (message: string) => new ProviderError(`${expected.provider} ${message}`, { provider: expected.provider, stage: 'download' })
  if (bytes.byteLength > MAX_RESULT_BYTES) throw fail(`returned an image of ${bytes.byteLength} bytes, over the ${MAX_RESULT_BYTES}-byte cap`)
  const { default: sharp } = await import('sharp')
  const warnings: string[] = []
  let format: OutputFormat | undefined
  let width = 0
  let height = 0
  try {
    // `failOn: 'warning'` plus a full decode: a truncated or corrupt body fails here instead of
    // being pinned as a result. Reading the last row makes the decoder go through every byte
    // before it (PNG, JPEG and WebP decode in order) without keeping the pixels, at a tenth of the
    // CPU of `stats()`, which also computed entropy and sharpness nobody reads (~50 ms a 1024² PNG).
    const image = sharp(bytes, { failOn: 'warning', limitInputPixels: 16384 * 16384 })
    const meta = await image.metadata()
    format = normalizeFormat(meta.format)
    width = meta.width ?? 0
    height = meta.height ?? 0
    if (format === undefined) throw new Error(`unsupported format ${meta.format ?? 'unknown'}`)
    if (width < 1 || height < 1) throw new Error('no pixels')
    await image
      .extract({ left: 0, top: height - 1, width: 1, height: 1 })
      .raw()
      .toBuffer()
  } catch (error) {
    throw fail(`returned data that is not a decodable image (${(error as Error).message.split('\n')[0]})`)
  }
  let stored = bytes
  if (format !== expected.format) {
    warnings.push(`${expected.provider} returned ${format} instead of ${expected.format}; converted locally`)
    stored = await convert(bytes, expected.format)
    format = expected.format
  }
  if (expected.size && (width !== expected.size.width || height !== expected.size.height)) {
    warnings.push(
      `${expected.provider} returned ${width}×${height} instead of ${expected.size.width}×${expected.size.height}; kept (it was paid for) with its real size`,
    )
  }
  const sha = await store.putObject(stored)
  return { image: { sha256: sha, width, height, format, bytes: stored.byteLength }, warnings }
}

async function convert(bytes: Uint8Array, format: OutputFormat): Promise<Uint8Array> {
  const { default: sharp } = await import('sharp')
  const image = sharp(bytes)
  if (format === 'png') return image.png().toBuffer()
  if (format === 'webp') return image.webp().toBuffer()
  return image.flatten({ background: '#ffffff' }).jpeg({ quality: 92 }).toBuffer()
}

function normalizeFormat(format: string | undefined): OutputFormat | undefined {
  if (format === 'png' || format === 'jpeg' || format === 'webp') return format
  return undefined
}
