import { readFile } from 'node:fs/promises'
import type { Sharp } from 'sharp'
import { sha256 } from '../hash/content-hash.js'
import type { OfflineProviderDefinition } from './definition.js'
import type { EditRequest, EditResult, ImageEditProvider, InputImage, PixelSize, ProviderCapabilities } from './provider.js'
import { gptImageSizes, nearestRatio } from './sizes.js'

const MB = 1024 * 1024

/** What the offline provider accepts. */
const capabilities: ProviderCapabilities = {
  maxRefs: 16,
  // Mirrors toapis so switching a recipe to `local` and back never changes what validates.
  sizes: gptImageSizes,
  autoRatio: true,
  n: { min: 1, max: 10 },
  formats: ['png', 'jpeg', 'webp'],
  qualities: ['low', 'medium', 'high', 'auto'],
  refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB, urls: true },
  mask: { supported: true, maxBytes: 50 * MB },
  transparentBackground: 'supported',
  // Accepted and ignored: a placeholder has no use for them, and warning about them would be noise.
  parameters: ['compression', 'background', 'inputFidelity', 'moderation'],
  paid: false,
}

/** The offline provider: free deterministic placeholders, no key. */
export const localDefinition: OfflineProviderDefinition<'local'> = {
  specificationVersion: 1,
  kind: 'offline',
  id: 'local',
  defaultModel: 'local-v1',
  capabilities: () => capabilities,
  create: () => createLocalProvider(),
}

/**
 * The offline provider: deterministic placeholder edits made with sharp. Output has exactly the
 * requested size and format; it blends the references, repaints only the mask's transparent
 * region with a tint derived from the prompt, and marks a striped corner so nobody mistakes it
 * for a real result. Same request → same bytes on every machine with the same sharp build.
 */
export function createLocalProvider(): ImageEditProvider {
  return {
    id: 'local',
    defaultModel: localDefinition.defaultModel,
    capabilities: (model) => localDefinition.capabilities(model),
    generate: (request, _prepared, context) => renderLocalEdit(request, context),
  }
}

/** Renders a local edit. Exported so the Vite dev server can make same-size placeholders for any provider. */
export async function renderLocalEdit(
  request: EditRequest,
  context: { signal: AbortSignal; onProgress?: (progress: { stage: 'running'; percent: number }) => void },
): Promise<Omit<EditResult, 'images'> & { images: { bytes: Uint8Array }[] }> {
  const { default: sharp } = await import('sharp')
  const first = request.refs[0]
  if (!first) throw new Error('local provider: at least one reference image is required')
  const sources = await Promise.all(request.refs.map((ref) => readInput(ref, context.signal)))
  const size = request.size ?? (await autoSize(sharp(sources[0])))
  const { width, height } = size
  const pixels = width * height

  const layers = await Promise.all(sources.map((bytes) => toRgb(sharp(bytes), size)))
  const maskAlpha = request.mask
    ? (
        await sharp(await readInput(request.mask, context.signal))
          .resize(width, height, { fit: 'cover', position: 'centre' })
          .ensureAlpha()
          .extractChannel(3)
          .raw()
          .toBuffer({ resolveWithObject: true })
      ).data
    : undefined

  // Weighted blend of the references: the first dominates, the rest share the remainder.
  const base = layers[0] as Buffer
  const blended = Buffer.alloc(pixels * 3)
  const others = layers.slice(1)
  for (let offset = 0; offset < pixels * 3; offset++) {
    let sum = 0
    for (const layer of others) sum += layer[offset] as number
    const value = others.length > 0 ? 0.6 * (base[offset] as number) + (0.4 * sum) / others.length : (base[offset] as number)
    blended[offset] = Math.round(value)
  }

  const images: { bytes: Uint8Array }[] = []
  for (let index = 0; index < request.n; index++) {
    if (context.signal.aborted) throw context.signal.reason ?? new Error('aborted')
    const tint = tintOf(request, request.firstIndex + index)
    const output = Buffer.alloc(pixels * 3)
    for (let pixel = 0; pixel < pixels; pixel++) {
      // alpha 255 keeps the first reference untouched; alpha 0 is repainted (PRODUCT §3).
      const keep = maskAlpha ? (maskAlpha[pixel] as number) / 255 : 0
      for (let channel = 0; channel < 3; channel++) {
        const offset = pixel * 3 + channel
        const edited = 0.68 * (blended[offset] as number) + 0.32 * (tint[channel] as number)
        output[offset] = Math.round(keep * (base[offset] as number) + (1 - keep) * edited)
      }
    }
    stripeCorner(output, width, height)
    const encoder = sharp(output, { raw: { width, height, channels: 3 } })
    images.push({ bytes: await encode(encoder, request) })
    context.onProgress?.({ stage: 'running', percent: Math.round(((index + 1) / request.n) * 100) })
  }
  return { images, warnings: [] }
}

async function readInput(input: InputImage, signal: AbortSignal): Promise<Buffer> {
  if (input.kind === 'file') return readFile(input.path, { signal })
  const response = await fetch(input.url, { signal, redirect: 'error' })
  if (!response.ok) throw new Error(`local provider: ${input.url} answered HTTP ${response.status}`)
  return Buffer.from(await response.arrayBuffer())
}

async function autoSize(image: Sharp): Promise<PixelSize> {
  const meta = await image.metadata()
  const ratio = nearestRatio(capabilities.sizes, meta.width ?? 1, meta.height ?? 1)
  const size = capabilities.sizes[ratio]?.['1k']
  return size ?? { width: 1024, height: 1024 }
}

async function toRgb(image: Sharp, size: PixelSize): Promise<Buffer> {
  const { data, info } = await image
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(size.width, size.height, { fit: 'cover', position: 'centre' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  if (info.channels === 3) return data
  // Greyscale sources come back with one channel; widen to RGB.
  const rgb = Buffer.alloc(size.width * size.height * 3)
  for (let pixel = 0; pixel < size.width * size.height; pixel++) {
    const value = data[pixel * info.channels] as number
    rgb[pixel * 3] = value
    rgb[pixel * 3 + 1] = value
    rgb[pixel * 3 + 2] = value
  }
  return rgb
}

/** A saturated colour from the prompt, seed and image index: different recipes look different. */
function tintOf(request: EditRequest, index: number): [number, number, number] {
  // A new take (--force) must look different; take 1 keeps the original formula.
  const take = request.take > 1 ? `\u0000take ${request.take}` : ''
  // The images of a take step around the colour wheel from the first one's hue by the golden
  // angle, so candidates side by side always look different (hashed hues can land close enough to
  // round to the same pixels). The first image keeps the original formula.
  const digest = sha256(`${request.prompt}\u0000${String(request.seed ?? '')}\u00000${take}`)
  const hue = (Number.parseInt(digest.slice(0, 4), 16) / 0x10000 + index * 0.381966) % 1
  const [r, g, b] = hslToRgb(hue, 0.75, 0.55)
  return [r, g, b]
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s
  const p = 2 * l - q
  const channel = (t: number) => {
    const x = t < 0 ? t + 1 : t > 1 ? t - 1 : t
    if (x < 1 / 6) return p + (q - p) * 6 * x
    if (x < 1 / 2) return q
    if (x < 2 / 3) return p + (q - p) * (2 / 3 - x) * 6
    return p
  }
  return [Math.round(channel(h + 1 / 3) * 255), Math.round(channel(h) * 255), Math.round(channel(h - 1 / 3) * 255)]
}

/** Yellow and black stripes across the top-left corner: "this is a placeholder". */
function stripeCorner(rgb: Buffer, width: number, height: number): void {
  const band = Math.max(8, Math.round(Math.min(width, height) * 0.08))
  const stripe = Math.max(2, Math.round(band / 5))
  for (let y = 0; y < band; y++) {
    for (let x = 0; x < band - y; x++) {
      const on = Math.floor((x + y) / stripe) % 2 === 0
      const offset = (y * width + x) * 3
      rgb[offset] = on ? 250 : 20
      rgb[offset + 1] = on ? 204 : 20
      rgb[offset + 2] = on ? 21 : 20
    }
  }
}

async function encode(image: Sharp, request: EditRequest): Promise<Buffer> {
  // Like OpenAI's output_compression, the value behaves as an encoder quality (100 = least loss).
  const quality = Math.max(1, Math.min(100, request.compression ?? 90))
  switch (request.format) {
    case 'jpeg':
      return image.jpeg({ quality, mozjpeg: false, chromaSubsampling: '4:2:0' }).toBuffer()
    case 'webp':
      return image.webp({ quality, effort: 4 }).toBuffer()
    default:
      return image.png({ compressionLevel: 6, adaptiveFiltering: false, palette: false }).toBuffer()
  }
}
