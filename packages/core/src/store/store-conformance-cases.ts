/**
 * The cases of `testResultStore` (`store-conformance.ts`), one function per group: objects and
 * records, and integrity here; the others in `store-conformance-crash.ts` and
 * `store-conformance-copy.ts`. Test-only code, like `store-conformance.ts`: excluded from the
 * package build.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { JobRecord } from './store.js'
import type { CurrentStore } from './store-conformance.js'
import { bytesOf, hashOf, recordOf, same } from './store-conformance-fixtures.js'

export { copyToPath, listSizeDelete } from './store-conformance-copy.js'
export { sweeping, twoInstances } from './store-conformance-crash.js'

/** Put and get by sha256 and by key; idempotent puts. */
export function objectsAndRecords(t: () => CurrentStore): void {
  describe('objects and records', () => {
    it('stores objects by sha256 and serves the exact bytes', async () => {
      const { store } = t()
      const a = bytesOf('a')
      const b = bytesOf('b', 100_000)
      expect(await store.hasObject(hashOf(a))).toBe(false)
      expect(await store.getObject(hashOf(a))).toBeUndefined()
      expect(await store.putObject(a)).toBe(hashOf(a))
      expect(await store.putObject(b)).toBe(hashOf(b))
      expect(await store.hasObject(hashOf(a))).toBe(true)
      expect(same(await store.getObject(hashOf(a)), a)).toBe(true)
      expect(same(await store.getObject(hashOf(b)), b)).toBe(true)
      expect(await store.listObjects()).toEqual([hashOf(a), hashOf(b)].sort())
      expect(typeof store.location).toBe('string')
    })

    it('takes the sha256 a caller verified instead of hashing again; a wrong one never serves the bytes', async () => {
      const { store } = t()
      const a = bytesOf('known hash', 50_000)
      expect(await store.putObject(a, hashOf(a))).toBe(hashOf(a))
      expect(same(await store.getObject(hashOf(a)), a)).toBe(true)
      // A caller's mistake: the bytes land under another name, and reading that name rejects them…
      const b = bytesOf('wrong hash')
      const wrong = hashOf('not these bytes')
      await store.putObject(b, wrong)
      expect(await store.getObject(wrong)).toBeUndefined()
      // …and never replace a good copy stored under it.
      await expect(store.putObject(b, hashOf(a))).rejects.toThrow(/not the sha256 of these bytes/)
      expect(same(await store.getObject(hashOf(a)), a)).toBe(true)
    })

    it('stores records by key, replaces them, and serves them verified', async () => {
      const { store } = t()
      const first = recordOf('one')
      const other = recordOf('two', [bytesOf('x')])
      expect(await store.getRecord(first.key)).toBeUndefined()
      await store.putRecord(first)
      await store.putRecord(other)
      expect(await store.getRecord(first.key)).toEqual(first)
      expect(await store.getRecord(other.key)).toEqual(other)
      expect(await store.listRecords()).toEqual([first.key, other.key].sort())
      const replaced: JobRecord = { ...first, selectedTake: 2, takes: [...first.takes, { take: 2, images: [], runs: [] }] }
      await store.putRecord(replaced)
      expect(await store.getRecord(first.key)).toEqual(replaced)
      expect(await store.listRecords()).toHaveLength(2)
    })

    it('puts are idempotent', async () => {
      const { store, faults } = t()
      const bytes = bytesOf('again')
      const record = recordOf('again', [bytes])
      for (let round = 0; round < 3; round++) {
        expect(await store.putObject(bytes)).toBe(hashOf(bytes))
        await store.putRecord(record)
      }
      expect(await store.listObjects()).toEqual([hashOf(bytes)])
      expect(await store.listRecords()).toEqual([record.key])
      expect(same(await store.getObject(hashOf(bytes)), bytes)).toBe(true)
      expect(await store.getRecord(record.key)).toEqual(record)
      expect(await faults.leftovers()).toBe(0)
    })
  })
}

/** Damaged, torn and unfinished entries are never served; a put repairs them. */
export function integrity(t: () => CurrentStore): void {
  describe('integrity', () => {
    it('detects a corrupted object and never serves it; a put repairs it', async () => {
      const { store, faults, local } = t()
      const bytes = bytesOf('rot')
      const hash = await store.putObject(bytes)
      await faults.corruptObject(hash)
      expect(await store.getObject(hash)).toBeUndefined()
      expect(await store.hasObject(hash)).toBe(false)
      expect(await store.copyObjectTo(hash, join(local, 'out.bin'))).toBe(false)
      await store.putObject(bytes)
      expect(same(await store.getObject(hash), bytes)).toBe(true)
    })

    it('never serves a truncated object (a torn write), not even by copy; a put repairs it', async () => {
      const { subject, store, faults, local } = t()
      const bytes = bytesOf('torn', 50_000)
      const hash = await store.putObject(bytes)
      await faults.truncateObject(hash)
      // A put of the same bytes over a damaged copy must not be skipped as "already there".
      const again = await subject.open()
      await again.putObject(bytes)
      expect(same(await again.getObject(hash), bytes)).toBe(true)
      await faults.truncateObject(hash)
      expect(await store.copyObjectTo(hash, join(local, 'out.bin'))).toBe(false)
      expect(await readdir(local)).toEqual([])
      expect(await store.getObject(hash)).toBeUndefined()
      expect(await store.hasObject(hash)).toBe(false)
    })

    it('never serves a truncated record; a put repairs it', async () => {
      const { subject, store, faults } = t()
      const record = recordOf('cut', [bytesOf('cut')])
      await store.putRecord(record)
      await faults.truncateRecord(record.key)
      expect(await store.getRecord(record.key)).toBeUndefined()
      expect(await (await subject.open()).getRecord(record.key)).toBeUndefined()
      await store.putRecord(record)
      expect(await store.getRecord(record.key)).toEqual(record)
    })

    it('never serves the leftover of a writer killed mid-write', async () => {
      const { subject, store, faults } = t()
      const bytes = bytesOf('killed')
      const old = recordOf('killed')
      await store.putRecord(old)
      await faults.abandonObjectWrite(bytes)
      await faults.abandonRecordWrite({ ...old, selectedTake: 7, takes: [{ take: 7, images: [], runs: [] }] })
      for (const view of [store, await subject.open()]) {
        expect(await view.hasObject(hashOf(bytes))).toBe(false)
        expect(await view.getObject(hashOf(bytes))).toBeUndefined()
        expect(await view.listObjects()).toEqual([])
        // A record being replaced reads as the previous one, never as a part of the new one.
        expect(await view.getRecord(old.key)).toEqual(old)
        expect(await view.listRecords()).toEqual([old.key])
      }
    })
  })
}
