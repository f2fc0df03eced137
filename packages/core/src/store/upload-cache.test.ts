import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers.js'
import { writeFileAtomic } from './atomic-write.js'
import { FileUploadCache } from './upload-cache.js'

describe('FileUploadCache', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function cachePath(): Promise<string> {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    return join(dir, 'uploads.json')
  }

  it('coalesces concurrent puts into few whole-file writes, and every entry reaches the disk', async () => {
    const path = await cachePath()
    const writes: string[] = []
    const cache = new FileUploadCache(path, Date.now, async (target, text) => {
      writes.push(text)
      await writeFileAtomic(target, text)
    })
    await Promise.all(Array.from({ length: 50 }, (_, index) => cache.put('toapis', `sha${index}`, `https://files/${index}`)))
    // The first put starts a write; the other 49 join the one after it (not one write each).
    expect(writes.length).toBeLessThanOrEqual(2)
    const reread = new FileUploadCache(path)
    for (let index = 0; index < 50; index++) expect(await reread.get('toapis', `sha${index}`)).toBe(`https://files/${index}`)
  })

  it('a put made while a write is in flight is in the next write, which waits for the first', async () => {
    const path = await cachePath()
    const writes: string[] = []
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const cache = new FileUploadCache(path, Date.now, async (target, text) => {
      writes.push(text)
      if (writes.length === 1) await held
      await writeFileAtomic(target, text)
    })
    const first = cache.put('toapis', 'a', 'https://files/a')
    while (writes.length === 0) await new Promise((resolve) => setImmediate(resolve))
    expect(writes).toHaveLength(1)
    let secondDone = false
    const second = Promise.all([cache.put('toapis', 'b', 'https://files/b'), cache.put('toapis', 'c', 'https://files/c')]).then(() => {
      secondDone = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    // Still one write: the later puts wait for the one in flight, then share one write.
    expect(writes).toHaveLength(1)
    expect(secondDone).toBe(false)
    release()
    await Promise.all([first, second])
    expect(writes).toHaveLength(2)
    expect(Object.keys(JSON.parse(writes[1] ?? '{}')).sort()).toEqual(['toapis:a', 'toapis:b', 'toapis:c'])
    expect(await new FileUploadCache(path).get('toapis', 'c')).toBe('https://files/c')
  })

  it('a failed write rejects its puts and does not stop later writes', async () => {
    const path = await cachePath()
    let calls = 0
    const cache = new FileUploadCache(path, Date.now, async (target, text) => {
      calls++
      if (calls === 1) throw new Error('disk full')
      await writeFileAtomic(target, text)
    })
    await expect(cache.put('toapis', 'a', 'https://files/a')).rejects.toThrow('disk full')
    await cache.put('toapis', 'b', 'https://files/b')
    const reread = new FileUploadCache(path)
    expect(await reread.get('toapis', 'a')).toBe('https://files/a')
    expect(await reread.get('toapis', 'b')).toBe('https://files/b')
  })

  it('drops entries older than the upload lifetime when it writes', async () => {
    const path = await cachePath()
    let now = 1_000
    const cache = new FileUploadCache(path, () => now)
    await cache.put('toapis', 'old', 'https://files/old')
    now += 13 * 60 * 60 * 1000
    await cache.put('toapis', 'new', 'https://files/new')
    const reread = new FileUploadCache(path, () => now)
    expect(await reread.get('toapis', 'old')).toBeUndefined()
    expect(await reread.get('toapis', 'new')).toBe('https://files/new')
  })
})
