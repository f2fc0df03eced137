/**
 * The behaviours every {@link ResultStore} must have, as one vitest suite any implementation runs
 * (in the spirit of unstorage's `testDriver`):
 *
 * ```ts
 * testResultStore('FileSystemStore', async () => ({ store, open, faults, cleanup }))
 * ```
 *
 * Test-only code: excluded from the package build (`packages/core/tsconfig.json`).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe } from 'vitest'
import type { JobRecord, ResultStore } from './store.js'
import { copyToPath, integrity, listSizeDelete, objectsAndRecords, sweeping, twoInstances } from './store-conformance-cases.js'
import { streamedPuts } from './store-conformance-stream.js'

/** Damage done to a store's storage behind its back, as a crash, a bad disk or a careless hand leaves it. */
export interface StoreFaults {
  /** Replaces a stored object's bytes with other bytes of the same length (bit rot, a hand edit). */
  corruptObject(sha256: string): Promise<void>
  /** Cuts a stored object short (a write that was not atomic, cut by a power loss). */
  truncateObject(sha256: string): Promise<void>
  /** Cuts the stored record of a key short. */
  truncateRecord(key: string): Promise<void>
  /** Leaves what a writer killed while storing these bytes leaves (a partial, unfinished copy). */
  abandonObjectWrite(bytes: Uint8Array): Promise<void>
  /** Leaves what a writer killed while storing this record leaves. */
  abandonRecordWrite(record: JobRecord): Promise<void>
  /** How many leftovers of unfinished writes the storage holds. */
  leftovers(): Promise<number>
}

/** What a store's factory gives the suite, for each test. */
export interface StoreUnderTest {
  /** A store on fresh, empty storage. */
  store: ResultStore
  /** Another instance on the same storage: a second process, or this one after a crash and restart. */
  open(): ResultStore | Promise<ResultStore>
  faults: StoreFaults
  /** Removes the storage. */
  cleanup(): Promise<void>
}

/** The store of the running test, with its storage and a local folder for copy targets. */
export interface CurrentStore {
  subject: StoreUnderTest
  store: ResultStore
  faults: StoreFaults
  /** An empty local folder, removed after the test. */
  local: string
}

/** Declares the conformance suite of a {@link ResultStore} implementation; `factory` is called once per test. */
export function testResultStore(name: string, factory: () => Promise<StoreUnderTest>): void {
  describe(`ResultStore conformance: ${name}`, () => {
    let current: CurrentStore | undefined
    const t = (): CurrentStore => {
      if (!current) throw new Error('no store: the suite runs its cases inside testResultStore')
      return current
    }
    beforeEach(async () => {
      const subject = await factory()
      current = { subject, store: subject.store, faults: subject.faults, local: await mkdtemp(join(tmpdir(), 'images-edit-conformance-')) }
    })
    afterEach(async () => {
      const { subject, local } = t()
      current = undefined
      await subject.cleanup()
      await rm(local, { recursive: true, force: true })
    })
    objectsAndRecords(t)
    integrity(t)
    twoInstances(t)
    listSizeDelete(t)
    copyToPath(t)
    streamedPuts(t)
    sweeping(t)
  })
}
