// Image facts: header reads (image-size, sharp metadata), the full-decode check, and the pixel limit.
import { createRequire } from 'node:module'

type ImageSizeModule = typeof import('image-size')
let imageSizeModule: ImageSizeModule | undefined
/**
 * image-size, loaded on first use: a no-op build reads no header, and the package's two dozen
 * modules cost start-up time. It ships CommonJS, so a synchronous require keeps callers synchronous.
 */
function imageSize(bytes: Uint8Array): ReturnType<ImageSizeModule['imageSize']> {
  imageSizeModule ??= createRequire(import.meta.url)('image-size') as ImageSizeModule
  return imageSizeModule.imageSize(bytes)
}

/** Facts read from an image header (never decoded pixels). */
export interface ImageMeta {
  /** `png`, `jpeg`, `webp`, `gif`, … or `unknown` when sharp cannot read it. */
  format: string
  width: number
  height: number
  hasAlpha: boolean
}

/** Largest image (in pixels) images-edit decodes or sends: sharp's own default limit. */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff

/** Whether sharp decodes every pixel of the file (a cut-off file fails); the decoder's complaint when not. */
export async function fullyDecodes(path: string): Promise<{ ok: true } | { ok: false; message: string }> {
  const { pixelTask } = await import('../pixels/pixel-child.js')
  try {
    // Every pixel read (failOn 'truncated' turns a cut-off file into an error), in the pixel child:
    // a 17 MP ref decodes ~50 MB that the engine's heap would otherwise keep (pixels/pixel-child.ts).
    await pixelTask({ op: 'decodes', path, limitInputPixels: MAX_INPUT_PIXELS })
    return { ok: true }
  } catch (error) {
    return { ok: false, message: (error as Error).message }
  }
}

/** Reads an image header with sharp (loaded lazily: a no-op run never loads it). */
export async function readImageMeta(path: string): Promise<ImageMeta> {
  const { default: sharp } = await import('sharp')
  try {
    const meta = await sharp(path).metadata()
    return {
      format: meta.format ?? 'unknown',
      width: meta.width ?? 0,
      height: meta.height ?? 0,
      hasAlpha: meta.hasAlpha ?? false,
    }
  } catch {
    return { format: 'unknown', width: 0, height: 0, hasAlpha: false }
  }
}

const FORMATS: Record<string, string> = { jpg: 'jpeg', png: 'png', webp: 'webp', gif: 'gif' }

/** Width, height and format of encoded image bytes, from the header alone (no decoder). */
export function imageDimensions(bytes: Uint8Array): { width: number; height: number; format: string } | undefined {
  try {
    const size = imageSize(bytes)
    return size.width && size.height && size.type ? { width: size.width, height: size.height, format: FORMATS[size.type] ?? size.type } : undefined
  } catch {
    return undefined
  }
}

/**
 * Image facts from the header bytes alone (image-size), so checking a new ref costs no second
 * read and no decoder. Alpha is read for PNG (the only mask format); undefined means "ask sharp".
 */
export function headerMeta(head: Buffer): ImageMeta | undefined {
  let size: ReturnType<typeof imageSize>
  try {
    size = imageSize(head)
  } catch {
    return undefined
  }
  const format = size.type ? (FORMATS[size.type] ?? size.type) : undefined
  if (!format || !size.width || !size.height) return undefined
  const hasAlpha = format === 'png' ? pngHasAlpha(head) : undefined
  if (hasAlpha === undefined && format !== 'jpeg') return undefined
  return { format, width: size.width, height: size.height, hasAlpha: hasAlpha ?? false }
}

/** PNG colour types 4 and 6 carry alpha; so does a tRNS chunk before the image data. */
function pngHasAlpha(head: Buffer): boolean | undefined {
  if (head.length < 33) return undefined
  const colorType = head[25]
  if (colorType === 4 || colorType === 6) return true
  let offset = 8
  while (offset + 8 <= head.length) {
    const length = head.readUInt32BE(offset)
    const type = head.toString('latin1', offset + 4, offset + 8)
    if (type === 'tRNS') return true
    if (type === 'IDAT' || type === 'IEND') return false
    offset += 12 + length
  }
  return undefined
}
