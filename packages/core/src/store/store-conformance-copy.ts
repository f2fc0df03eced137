/**
 * Conformance cases for what `gc` and the build's copy need: list, size and delete, and
 * `copyObjectTo`. Test-only code, like `store-conformance.ts`: excluded from the package build.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CurrentStore } from './store-conformance.js'
import { bytesOf, hashOf, recordOf, same } from './store-conformance-fixtures.js'

/** What `gc` needs: list, size, delete. */
export function listSizeDelete(t: () => CurrentStore): void {
  describe('gc: list, size, delete', () => {
    it('sizes what is stored, deletes it, and tolerates deleting what is not there', async () => {
      const { store } = t()
      const bytes = bytesOf('gc', 12_345)
      const keep = bytesOf('keep')
      const record = recordOf('gc', [bytes])
      const hash = await store.putObject(bytes)
      await store.putObject(keep)
      await store.putRecord(record)
      expect(await store.objectSize(hash)).toBeGreaterThan(0)
      expect(await store.recordSize(record.key)).toBeGreaterThan(0)
      expect(await store.objectSize(hashOf('missing'))).toBeUndefined()
      expect(await store.recordSize(hashOf('missing'))).toBeUndefined()

      await store.deleteObject(hash)
      await store.deleteRecord(record.key)
      expect(await store.hasObject(hash)).toBe(false)
      expect(await store.getObject(hash)).toBeUndefined()
      expect(await store.objectSize(hash)).toBeUndefined()
      expect(await store.getRecord(record.key)).toBeUndefined()
      expect(await store.recordSize(record.key)).toBeUndefined()
      expect(await store.listObjects()).toEqual([hashOf(keep)])
      expect(await store.listRecords()).toEqual([])
      await store.deleteObject(hash)
      await store.deleteRecord(record.key)
      expect(same(await store.getObject(hashOf(keep)), keep)).toBe(true)
    })
  })
}

/** `copyObjectTo`: verified, atomic, nothing partial left on failure. */
export function copyToPath(t: () => CurrentStore): void {
  describe('copy to a path', () => {
    it('writes the verified object, replacing what was there, with no leftover beside it', async () => {
      const { store, local } = t()
      const bytes = bytesOf('copy', 30_000)
      const hash = await store.putObject(bytes)
      const target = join(local, 'deep', 'folder', 'out.png')
      expect(await store.copyObjectTo(hash, target)).toBe(true)
      expect(same(await readFile(target), bytes)).toBe(true)
      await writeFile(target, 'old content')
      expect(await store.copyObjectTo(hash, target)).toBe(true)
      expect(same(await readFile(target), bytes)).toBe(true)
      expect(await readdir(join(local, 'deep', 'folder'))).toEqual(['out.png'])
    })

    it('leaves the target untouched when the object is missing', async () => {
      const { store, local } = t()
      const target = join(local, 'out.png')
      await writeFile(target, 'old content')
      expect(await store.copyObjectTo(hashOf('not stored'), target)).toBe(false)
      expect(await readFile(target, 'utf8')).toBe('old content')
      expect(await readdir(local)).toEqual(['out.png'])
    })

    it('a failing write leaves no partial file at the target or beside it', async () => {
      const { store, local } = t()
      const bytes = bytesOf('fails', 30_000)
      const hash = await store.putObject(bytes)
      // The target is a folder with a file in it: the final step of the write cannot succeed.
      const target = join(local, 'taken')
      await mkdir(target)
      await writeFile(join(target, 'keep.txt'), 'mine')
      await expect(store.copyObjectTo(hash, target)).rejects.toThrow()
      expect(await readdir(local)).toEqual(['taken'])
      expect(await readdir(target)).toEqual(['keep.txt'])
      // A file where the target's folder should be: nothing is written anywhere.
      await writeFile(join(local, 'file'), 'mine')
      await expect(store.copyObjectTo(hash, join(local, 'file', 'out.png'))).rejects.toThrow()
      expect((await readdir(local)).sort()).toEqual(['file', 'taken'])
      expect(await readFile(join(local, 'file'), 'utf8')).toBe('mine')
    })

    it('a reader of the target sees the old file or the whole new one, never a part', async () => {
      const { store, local } = t()
      const old = bytesOf('old', 2_000_000)
      const bytes = bytesOf('new', 2_000_000)
      const hash = await store.putObject(bytes)
      const target = join(local, 'out.bin')
      await writeFile(target, old)
      let done = false
      const copying = store.copyObjectTo(hash, target).finally(() => {
        done = true
      })
      let reads = 0
      while (!done) {
        const seen = await readFile(target)
        expect(same(seen, old) || same(seen, bytes)).toBe(true)
        reads++
      }
      expect(await copying).toBe(true)
      expect(reads).toBeGreaterThan(0)
      expect(same(await readFile(target), bytes)).toBe(true)
    })
  })
}
