import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import sharp from 'sharp'

/** Output encodings the fake produces. */
export type ImageFormat = 'png' | 'jpeg' | 'webp'

/** What the server learns about an input image by decoding its header with sharp. */
export interface ImageInfo {
  /** sharp's format name: png, jpeg, webp, gif, … */
  format: string
  width: number
  height: number
  hasAlpha: boolean
}

/** Decodes the image header; undefined when the bytes are not an image sharp understands. */
export async function inspectImage(bytes: Uint8Array): Promise<ImageInfo | undefined> {
  try {
    const meta = await sharp(bytes).metadata()
    if (!meta.format || !meta.width || !meta.height) return undefined
    return { format: meta.format, width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha ?? false }
  } catch {
    return undefined
  }
}

/** What one output image should look like. */
export interface RenderSpec {
  width: number
  height: number
  format: ImageFormat
  /** 0..100, jpeg/webp quality. */
  compression?: number
  /** Hashed into the colours and layout, so different seeds give visibly different images. */
  seed: string
  /** Transparent background (png/webp only). */
  transparent?: boolean
}

/** MIME type of an output format. */
export function mimeOf(format: ImageFormat): string {
  return format === 'jpeg' ? 'image/jpeg' : `image/${format}`
}

/** File extension of an output format. */
export function extOf(format: ImageFormat): string {
  return format === 'jpeg' ? 'jpg' : format
}

/** Bytes that are certainly not an image, served for the `not-image` fault. */
export const NOT_AN_IMAGE = Buffer.from('<!DOCTYPE html><html><body><h1>Oops</h1><p>This is not an image.</p></body></html>\n')

/**
 * A real image of exactly `width × height` in `format`: a background colour and an off-centre
 * block in a second colour, both derived from a sha256 of the seed.
 */
export async function renderImage(spec: RenderSpec): Promise<Buffer> {
  const hash = createHash('sha256').update(spec.seed).digest()
  const byte = (i: number) => hash[i] ?? 0
  const { width, height } = spec
  const transparent = spec.transparent === true && spec.format !== 'jpeg'
  const background = { r: byte(0), g: byte(1), b: byte(2), alpha: transparent ? 0 : 1 }
  const block = { r: 255 - byte(0), g: byte(3), b: byte(4), alpha: 1 }
  const blockWidth = Math.max(1, Math.round(width / 2))
  const blockHeight = Math.max(1, Math.round(height / 2))
  const left = Math.floor(((width - blockWidth) * byte(5)) / 255)
  const top = Math.floor(((height - blockHeight) * byte(6)) / 255)
  const image = sharp({ create: { width, height, channels: transparent ? 4 : 3, background } }).composite([
    { input: { create: { width: blockWidth, height: blockHeight, channels: 3, background: block } }, left, top },
  ])
  const quality = Math.min(100, Math.max(1, spec.compression ?? 90))
  if (spec.format === 'jpeg') return image.jpeg({ quality }).toBuffer()
  if (spec.format === 'webp') return image.webp({ quality }).toBuffer()
  return image.png({ compressionLevel: 6 }).toBuffer()
}

/** The size served by the `wrong-size` fault: half of each side (at least 16 px). */
export function wrongSize(width: number, height: number): { width: number; height: number } {
  return { width: Math.max(16, Math.round(width / 2)), height: Math.max(16, Math.round(height / 2)) }
}

/**
 * A copy of an encoded PNG or JPEG with `text` added as metadata (a PNG `tEXt` chunk before IEND,
 * a JPEG comment after SOI): other bytes, same pixels. Undefined for formats it cannot mark.
 */
export function withMetadataText(bytes: Buffer, format: ImageFormat, text: string): Buffer | undefined {
  const payload = Buffer.from(`seed\0${text}`, 'latin1')
  if (format === 'png') {
    const iend = bytes.length - 12
    const type = Buffer.from('tEXt', 'latin1')
    const head = Buffer.alloc(4)
    head.writeUInt32BE(payload.length)
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(Buffer.concat([type, payload])))
    return Buffer.concat([bytes.subarray(0, iend), head, type, payload, crc, bytes.subarray(iend)])
  }
  if (format === 'jpeg' && payload.length <= 65_533) {
    const marker = Buffer.from([0xff, 0xfe, (payload.length + 2) >> 8, (payload.length + 2) & 0xff])
    return Buffer.concat([bytes.subarray(0, 2), marker, payload, bytes.subarray(2)])
  }
  return undefined
}
