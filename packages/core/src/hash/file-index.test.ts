import { stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir } from '../../../../test/helpers.js'
import { sha256 } from './content-hash.js'
import { FileIndex, headerMeta, imageDimensions } from './file-index.js'
import { hashOnWorker, WORKER_HASH_BYTES } from './hash-workers.js'

const past = new Date(Date.now() - 60_000)

describe('FileIndex (stat cache)', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('hashes big files on worker threads to the same sha256 and header facts, and reports a file gone meanwhile', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const png = await makeImage({ width: 30, height: 20 })
    const files = await Promise.all(
      [0, 1, 2, 3, 4].map(async (index) => {
        // A PNG padded past the worker threshold, each with its own bytes.
        const bytes = Buffer.concat([png, Buffer.alloc(WORKER_HASH_BYTES + index * 4099, index + 1)])
        const path = join(dir, `big-${index}.png`)
        await writeFile(path, bytes)
        return { path, bytes }
      }),
    )
    const index = new FileIndex(dir, undefined)
    const found = await Promise.all(files.map((file) => index.lookup(file.path, { image: true })))
    expect(found.map((result) => (result.ok ? result.info.sha256 : result.message))).toEqual(files.map((file) => sha256(file.bytes)))
    expect(found.map((result) => (result.ok ? result.info.image : undefined))).toEqual(
      files.map(() => expect.objectContaining({ format: 'png', width: 30, height: 20 })),
    )
    await expect(hashOnWorker(join(dir, 'gone.png'))).rejects.toThrow(/ENOENT/)
  })

  it('hashes once, then answers from the persisted cache without reading bytes', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const bytes = await makeImage({ width: 30, height: 20 })
    const file = join(dir, 'a.png')
    await writeFile(file, bytes)
    await utimes(file, past, past)
    const cachePath = join(dir, 'cache.json')

    const first = new FileIndex(dir, cachePath)
    await first.load()
    const lookup = await first.lookup(file, { image: true })
    expect(lookup).toMatchObject({
      ok: true,
      info: { sha256: sha256(bytes), size: bytes.length, image: { format: 'png', width: 30, height: 20, hasAlpha: false } },
    })
    expect(first.hashed).toBe(1)
    await first.save()

    const second = new FileIndex(dir, cachePath)
    await second.load()
    expect(await second.lookup(file, { image: true })).toEqual(lookup)
    expect(second.hashed).toBe(0)
  })

  it('sees a same-size rewrite within the same second (mtime nanoseconds and ctime differ)', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const file = join(dir, 'a.bin')
    await writeFile(file, 'aaaa')
    await utimes(file, past, past)
    const index = new FileIndex(dir, join(dir, 'cache.json'))
    const before = await index.lookup(file)
    await index.save()
    const { mtime } = await stat(file)
    await writeFile(file, 'bbbb')
    await utimes(file, mtime, mtime)
    const again = new FileIndex(dir, join(dir, 'cache.json'))
    await again.load()
    const after = await again.lookup(file)
    expect(after.ok && after.info.sha256).toBe(sha256('bbbb'))
    expect(before.ok && before.info.sha256).toBe(sha256('aaaa'))
  })

  it('does not trust an entry hashed while the file was racily new (git racy-clean guard)', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const file = join(dir, 'fresh.bin')
    await writeFile(file, 'just written')
    const index = new FileIndex(dir, join(dir, 'cache.json'))
    await index.lookup(file)
    await index.save()
    const again = new FileIndex(dir, join(dir, 'cache.json'))
    await again.load()
    await again.lookup(file)
    expect(again.hashed).toBe(1)
  })

  it('reports missing files, folders and non-images without throwing', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFile(join(dir, 'fake.png'), 'not an image')
    const index = new FileIndex(dir, undefined)
    expect(await index.lookup(join(dir, 'nope.png'))).toMatchObject({ ok: false, reason: 'missing' })
    expect(await index.lookup(dir)).toMatchObject({ ok: false, reason: 'not-a-file' })
    expect(await index.lookup(join(dir, 'fake.png'), { image: true })).toMatchObject({ ok: true, info: { image: { format: 'unknown' } } })
  })

  it('treats a damaged cache file as empty', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFile(join(dir, 'cache.json'), '{"version":1,"entries":')
    await writeFile(join(dir, 'a.bin'), 'x')
    const index = new FileIndex(dir, join(dir, 'cache.json'))
    await index.load()
    expect(await index.lookup(join(dir, 'a.bin'))).toMatchObject({ ok: true, info: { sha256: sha256('x') } })
  })
})

describe('headerMeta', () => {
  it('agrees with sharp on format, size and alpha, and defers to sharp when unsure', async () => {
    const rgb = { r: 10, g: 200, b: 30 }
    const images = [
      await sharp({ create: { width: 31, height: 17, channels: 3, background: rgb } })
        .png()
        .toBuffer(),
      await sharp({ create: { width: 31, height: 17, channels: 4, background: { ...rgb, alpha: 0.5 } } })
        .png()
        .toBuffer(),
      await sharp({ create: { width: 31, height: 17, channels: 4, background: { ...rgb, alpha: 0.5 } } })
        .png({ palette: true })
        .toBuffer(),
      await sharp({ create: { width: 40, height: 30, channels: 3, background: rgb } })
        .jpeg()
        .toBuffer(),
      await sharp({ create: { width: 40, height: 30, channels: 3, background: rgb } })
        .webp()
        .toBuffer(),
    ]
    for (const bytes of images) {
      const fromHeader = headerMeta(bytes)
      if (!fromHeader) continue
      const meta = await sharp(bytes).metadata()
      expect(fromHeader).toEqual({ format: meta.format, width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha })
    }
    expect(headerMeta(images[0] as Buffer)).toMatchObject({ format: 'png', hasAlpha: false })
    expect(headerMeta(images[1] as Buffer)).toMatchObject({ format: 'png', hasAlpha: true })
    expect(headerMeta(images[3] as Buffer)).toMatchObject({ format: 'jpeg', width: 40, height: 30 })
    expect(headerMeta(Buffer.from('not an image at all'))).toBeUndefined()
  })

  it('imageDimensions reads width, height and format of png, jpeg and webp', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const bytes = await sharp({ create: { width: 33, height: 21, channels: 3, background: { r: 1, g: 2, b: 3 } } })
        .toFormat(format)
        .toBuffer()
      expect(imageDimensions(bytes)).toEqual({ width: 33, height: 21, format })
    }
    expect(imageDimensions(Buffer.from('nope'))).toBeUndefined()
  })
})
