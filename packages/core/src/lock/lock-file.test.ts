import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers.js'
import { type LockFile, LockStore, readLock, serializeLock, writeLock } from './lock-file.js'

const lock: LockFile = {
  lockfileVersion: 1,
  jobs: {
    zeta: {
      key: 'b'.repeat(64),
      recipe: 'zeta',
      provider: 'local',
      model: 'local-v1',
      take: 1,
      prompt: 'a long prompt: with a colon, and "quotes" that must survive a round trip without being folded across lines at all',
      params: { resolution: '1k', ratio: '1:1', format: 'png', quality: 'high' },
      refs: [{ sha256: 'c'.repeat(64), path: 'refs/a.png' }],
      outputs: [{ path: 'generated/zeta.png', sha256: 'd'.repeat(64), width: 1024, height: 1024, format: 'png' }],
    },
    alpha: {
      key: 'e'.repeat(64),
      recipe: 'alpha',
      provider: 'local',
      model: 'local-v1',
      take: 2,
      prompt: 'short',
      params: { ratio: '16:9', resolution: '2k', quality: 'high', format: 'jpeg', compression: 80 },
      seed: 7,
      refs: [{ url: 'https://example.com/a.png' }],
      mask: { path: 'masks/m.png', sha256: 'f'.repeat(64) },
      outputs: [],
    },
  },
}

describe('images.edit.lock', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('serializes with sorted jobs and a fixed field order, and round-trips', async () => {
    const text = serializeLock(lock)
    expect(text.indexOf('  alpha:')).toBeLessThan(text.indexOf('  zeta:'))
    expect(text).toContain('ratio: 1:1')
    expect(text.split('\n').filter((line) => line.includes('a long prompt'))).toHaveLength(1)
    const reordered: LockFile = { lockfileVersion: 1, jobs: { alpha: lock.jobs.alpha as never, zeta: lock.jobs.zeta as never } }
    expect(serializeLock(reordered)).toBe(text)

    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'images.edit.lock')
    expect(await writeLock(path, lock)).toBe(true)
    expect(await writeLock(path, await readLock(path))).toBe(false)
    expect(await readFile(path, 'utf8')).toBe(text)
    expect((await readLock(path)).jobs.alpha?.seed).toBe(7)
  })

  it('a lock taken as edited by hand that --force-lock leaves with the same text is ours from then on', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'images.edit.lock')
    await writeFile(path, serializeLock(lock))
    const store = new LockStore(path, join(dir, 'lock-cache.json'))
    // Nothing images-edit wrote before, and a verifier that does not accept it: a hand edit.
    let verified = 0
    store.verify = async () => {
      verified++
      return 'it differs from the store'
    }
    const state = await store.read()
    expect(state.handEdited).toBe(true)
    // What a forced build writes is the same text: nothing to write, but the text is now ours.
    expect(await store.write(await readLock(path), state)).toBe(false)
    const again = new LockStore(path, join(dir, 'lock-cache.json'))
    again.verify = store.verify
    expect((await again.read()).handEdited).toBe(false)
    expect(verified).toBe(1)
  })

  it('refuses a lock with merge conflict markers or of an unknown version instead of overwriting it', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'images.edit.lock')
    await writeFile(path, `${serializeLock(lock)}<<<<<<< HEAD\nfoo\n=======\nbar\n>>>>>>> branch\n`)
    await expect(readLock(path)).rejects.toThrow(/merge conflict/)
    // An output whose size or format is not what images-edit writes (markup, say) is malformed.
    const text = serializeLock(lock)
    await writeFile(path, text.replace('width: 1024', "width: '1\"><img src=x onerror=alert(1)>'"))
    await expect(readLock(path)).rejects.toThrow(/the entry for zeta is malformed/)
    await writeFile(path, text.replace(/(height: 1024\n\s+)format: png/, '$1format: "<b>png</b>"'))
    await expect(readLock(path)).rejects.toThrow(/malformed/)
    await writeFile(path, 'lockfileVersion: 9\njobs: {}\n')
    await expect(readLock(path)).rejects.toThrow(/version 1/)
    expect(await readLock(join(dir, 'missing.lock'))).toEqual({ lockfileVersion: 1, jobs: {} })
  })
})
