/**
 * Conformance cases for two instances and crashes: concurrent writers, a restart after a crash, and
 * `sweep`. Test-only code, like `store-conformance.ts`: excluded from the package build.
 */
import { describe, expect, it } from 'vitest'
import type { JobRecord } from './store.js'
import type { CurrentStore } from './store-conformance.js'
import { bytesOf, hashOf, recordOf, same } from './store-conformance-fixtures.js'

/** Two instances on the same storage at once, and a new one after a crash. */
export function twoInstances(t: () => CurrentStore): void {
  describe('two instances on the same storage', () => {
    it('concurrent puts of the same object and record are harmless', async () => {
      const { subject, store, faults } = t()
      const other = await subject.open()
      const bytes = bytesOf('shared', 200_000)
      const record = recordOf('shared', [bytes])
      const hashes = await Promise.all(Array.from({ length: 8 }, (_, index) => (index % 2 ? other : store).putObject(bytes)))
      expect(new Set(hashes)).toEqual(new Set([hashOf(bytes)]))
      await Promise.all(Array.from({ length: 8 }, (_, index) => (index % 2 ? other : store).putRecord(record)))
      for (const view of [store, other]) {
        expect(same(await view.getObject(hashOf(bytes)), bytes)).toBe(true)
        expect(await view.getRecord(record.key)).toEqual(record)
        expect(await view.listObjects()).toEqual([hashOf(bytes)])
        expect(await view.listRecords()).toEqual([record.key])
      }
      expect(await faults.leftovers()).toBe(0)
    })

    it('concurrent replacements of a record leave one of them whole', async () => {
      const { subject, store } = t()
      const other = await subject.open()
      const base = recordOf('race')
      const versions = Array.from(
        { length: 8 },
        (_, index): JobRecord => ({ ...base, selectedTake: index + 1, takes: [{ take: index + 1, images: [], runs: [] }] }),
      )
      await Promise.all(versions.map((version, index) => (index % 2 ? other : store).putRecord(version)))
      const stored = await store.getRecord(base.key)
      expect(versions).toContainEqual(stored)
      expect(await other.getRecord(base.key)).toEqual(stored)
    })

    it('a new instance after a crash sees every complete write and none of the unfinished ones', async () => {
      const { subject, store, faults } = t()
      const objects = Array.from({ length: 5 }, (_, index) => bytesOf(`done-${index}`, 1000 + index))
      const records = objects.map((bytes, index) => recordOf(`done-${index}`, [bytes]))
      for (const bytes of objects) await store.putObject(bytes)
      for (const record of records) await store.putRecord(record)
      // The process dies in the middle of its next writes.
      await faults.abandonObjectWrite(bytesOf('unfinished'))
      await faults.abandonRecordWrite(recordOf('unfinished'))

      const reopened = await subject.open()
      expect(await reopened.listObjects()).toEqual(objects.map(hashOf).sort())
      expect(await reopened.listRecords()).toEqual(records.map((record) => record.key).sort())
      for (const bytes of objects) expect(same(await reopened.getObject(hashOf(bytes)), bytes)).toBe(true)
      for (const record of records) expect(await reopened.getRecord(record.key)).toEqual(record)
      expect(await reopened.getRecord(recordOf('unfinished').key)).toBeUndefined()
      const left = await faults.leftovers()
      expect(await reopened.sweep()).toBe(left)
      expect(await faults.leftovers()).toBe(0)
      expect(await reopened.listObjects()).toEqual(objects.map(hashOf).sort())
    })
  })
}
/** `sweep`: leftovers of dead writers go, complete entries and live writes stay. */
export function sweeping(t: () => CurrentStore): void {
  describe('sweep', () => {
    it('removes leftovers of dead writers and never a complete entry', async () => {
      const { store, faults } = t()
      const objects = [bytesOf('s1'), bytesOf('s2', 70_000)]
      const record = recordOf('swept', objects)
      for (const bytes of objects) await store.putObject(bytes)
      await store.putRecord(record)
      await faults.abandonObjectWrite(bytesOf('s3'))
      await faults.abandonObjectWrite(objects[0] as Uint8Array)
      await faults.abandonRecordWrite(record)
      const left = await faults.leftovers()
      expect(await store.sweep()).toBe(left)
      expect(await faults.leftovers()).toBe(0)
      expect(await store.sweep()).toBe(0)
      expect(await store.listObjects()).toEqual(objects.map(hashOf).sort())
      for (const bytes of objects) expect(same(await store.getObject(hashOf(bytes)), bytes)).toBe(true)
      expect(await store.getRecord(record.key)).toEqual(record)
    })

    it('never breaks a write in progress (a sweep from another instance meanwhile)', async () => {
      const { subject, store, faults } = t()
      const other = await subject.open()
      const objects = Array.from({ length: 12 }, (_, index) => bytesOf(`busy-${index}`, 100_000))
      const records = objects.map((bytes, index) => recordOf(`busy-${index}`, [bytes]))
      const writes = Promise.all([...objects.map((bytes) => store.putObject(bytes)), ...records.map((record) => store.putRecord(record))])
      const sweeps = Promise.all(Array.from({ length: 6 }, () => other.sweep()))
      await Promise.all([writes, sweeps])
      for (const bytes of objects) expect(same(await store.getObject(hashOf(bytes)), bytes)).toBe(true)
      for (const record of records) expect(await other.getRecord(record.key)).toEqual(record)
      expect(await faults.leftovers()).toBe(0)
    })
  })
}
