import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, makeMask, tempDir } from '../../../../test/helpers.js'
import { sha256 } from '../hash/content-hash.js'
import { renderLocalEdit } from './local-provider.js'
import type { EditRequest, InputImage } from './provider.js'
import { gptImageSizes } from './sizes.js'

const generate = (request: EditRequest, context: { signal: AbortSignal; onProgress: () => void }) => renderLocalEdit(request, context)
const context = { signal: new AbortController().signal, onProgress: () => {} }
let dir: string
let cleanup: () => Promise<void>
let ref: InputImage
let second: InputImage
let mask: InputImage

async function input(name: string, bytes: Buffer, width: number, height: number, format: 'png' | 'jpeg'): Promise<InputImage> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return { kind: 'file', path, sha256: sha256(bytes), bytes: bytes.length, format, width, height }
}

function request(overrides: Partial<EditRequest> = {}): EditRequest {
  return {
    jobKey: 'k'.repeat(64),
    model: 'local-v1',
    prompt: 'make it blue',
    refs: [ref],
    ratio: '1:1',
    resolution: '1k',
    size: { width: 1024, height: 1024 },
    n: 1,
    firstIndex: 0,
    take: 1,
    quality: 'high',
    format: 'png',
    ...overrides,
  }
}

beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir())
  ref = await input('ref.png', await makeImage({ width: 80, height: 80, color: { r: 30, g: 160, b: 60 } }), 80, 80, 'png')
  second = await input('second.jpg', await makeImage({ width: 50, height: 30, format: 'jpeg', color: { r: 240, g: 240, b: 10 } }), 50, 30, 'jpeg')
  mask = await input('mask.png', await makeMask(80, 80), 80, 80, 'png')
})
afterAll(() => cleanup())

describe('local provider', () => {
  it('produces exactly the requested size and format for every ratio × resolution it declares', async () => {
    const cases: [EditRequest['ratio'], EditRequest['resolution'], EditRequest['format']][] = [
      ['1:1', '1k', 'png'],
      ['16:9', '2k', 'jpeg'],
      ['9:16', '1k', 'webp'],
      ['21:9', '4k', 'png'],
      ['4:5', '2k', 'webp'],
    ]
    for (const [ratio, resolution, format] of cases) {
      const size = gptImageSizes[ratio as '1:1']?.[resolution]
      expect(size).toBeDefined()
      const result = await generate(request({ ratio, resolution, format, ...(size ? { size } : {}) }), context)
      const meta = await sharp(result.images[0]?.bytes).metadata()
      expect({ width: meta.width, height: meta.height, format: meta.format }).toEqual({ ...size, format })
    }
  })

  it('is deterministic, differs by prompt, and image k is the same however the take was grown', async () => {
    const a = await generate(request({ n: 3 }), context)
    const b = await generate(request({ n: 3 }), context)
    expect(a.images.map((image) => sha256(image.bytes))).toEqual(b.images.map((image) => sha256(image.bytes)))
    expect(new Set(a.images.map((image) => sha256(image.bytes))).size).toBe(3)
    const third = await generate(request({ n: 1, firstIndex: 2 }), context)
    expect(sha256(third.images[0]?.bytes ?? new Uint8Array())).toBe(sha256(a.images[2]?.bytes ?? new Uint8Array()))
    const newTake = await generate(request({ take: 2 }), context)
    expect(sha256(newTake.images[0]?.bytes ?? new Uint8Array())).not.toBe(sha256(a.images[0]?.bytes ?? new Uint8Array()))
    const other = await generate(request({ prompt: 'make it red' }), context)
    expect(sha256(other.images[0]?.bytes ?? new Uint8Array())).not.toBe(sha256(a.images[0]?.bytes ?? new Uint8Array()))
  })

  it('changes only the transparent region of the mask', async () => {
    const size = { width: 1024, height: 1024 }
    const result = await generate(request({ refs: [ref, second], mask, size }), context)
    const out = await sharp(result.images[0]?.bytes).raw().toBuffer()
    const original = await sharp(ref.kind === 'file' ? ref.path : '')
      .resize(1024, 1024, { fit: 'cover' })
      .removeAlpha()
      .raw()
      .toBuffer()
    const at = (buffer: Buffer, x: number, y: number) => [...buffer.subarray((y * 1024 + x) * 3, (y * 1024 + x) * 3 + 3)]
    // Right half is opaque in the mask: kept exactly. Left half is transparent: repainted.
    for (const [x, y] of [
      [900, 500],
      [700, 900],
      [1000, 1000],
    ] as const)
      expect(at(out, x, y)).toEqual(at(original, x, y))
    for (const [x, y] of [
      [200, 500],
      [300, 900],
    ] as const)
      expect(at(out, x, y)).not.toEqual(at(original, x, y))
  })

  it('stops when aborted', async () => {
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(generate(request({ n: 2 }), { signal: controller.signal, onProgress: () => {} })).rejects.toThrow()
  })
})
