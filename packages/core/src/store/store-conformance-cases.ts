/**
 * The cases of `testResultStore` (`store-conformance.ts`), one function per group. Test-only code, like
 * `store-conformance.ts`: excluded from the package build.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { JobRecord } from './store.js'
import type { CurrentStore } from './store-conformance.js'

const hashOf = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

/** Distinct bytes of a given size. */
function bytesOf(label: string, size = 4096): Uint8Array {
  const out = new Uint8Array(size)
  const seed = createHash('sha256').update(label).digest()
  for (let index = 0; index < size; index++) out[index] = (seed[index % seed.length] as number) ^ ((index * 31) % 251)
  return out
}

function recordOf(label: string, images: readonly Uint8Array[] = [], take = 1): JobRecord {
  return {
    version: 1,
    key: hashOf(`key:${label}`),
    provider: 'local',
    model: 'local-v1',
    selectedTake: take,
    takes: [
      {
        take,
        images: images.map((bytes) => ({ sha256: hashOf(bytes), width: 8, height: 8, format: 'png', bytes: bytes.byteLength })),
        runs: [{ at: '2026-01-01T00:00:00.000Z', provider: 'local', model: 'local-v1', firstIndex: 0, count: images.length, warnings: [label] }],
      },
    ],
  }
}

const same = (actual: Uint8Array | undefined, expected: Uint8Array): boolean =>
  actual !== undefined && Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected))

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
