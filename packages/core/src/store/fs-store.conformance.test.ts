import { mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers.js'
import { sha256 } from '../hash/content-hash.js'
import { TEMP_MARKER } from './atomic-write.js'
import { FileSystemStore } from './fs-store.js'
import { type StoreFaults, type StoreUnderTest, testResultStore } from './store-conformance.js'

/** A pid above Linux's pid_max default: certainly not alive, like a writer killed with `kill -9`. */
const DEAD_PID = 4194305

/** A `FileSystemStore` in a fresh temporary folder, with faults done to its files directly. */
async function fileSystemStore(): Promise<StoreUnderTest> {
  const { dir, cleanup } = await tempDir('images-edit-store-')
  const objectPath = (hash: string) => join(dir, 'objects', hash.slice(0, 2), hash.slice(2))
  const recordPath = (key: string) => join(dir, 'records', `${key}.json`)
  /** What `writeFileAtomic` leaves when its process dies before the rename: a partial temporary file beside the target. */
  const abandon = async (path: string, data: Uint8Array) => {
    const folder = join(path, '..')
    await mkdir(folder, { recursive: true })
    await writeFile(join(folder, `${TEMP_MARKER}${path.split('/').at(-1)}-${DEAD_PID}-0badf00d`), data.subarray(0, Math.ceil(data.byteLength / 2)))
  }
  const faults: StoreFaults = {
    async corruptObject(hash) {
      const bytes = await readFile(objectPath(hash))
      bytes[0] = (bytes[0] ?? 0) ^ 0xff
      await writeFile(objectPath(hash), bytes)
    },
    async truncateObject(hash) {
      const bytes = await readFile(objectPath(hash))
      await truncate(objectPath(hash), Math.floor(bytes.byteLength / 2))
    },
    async truncateRecord(key) {
      const text = await readFile(recordPath(key))
      await truncate(recordPath(key), Math.floor(text.byteLength / 2))
    },
    abandonObjectWrite: (bytes) => abandon(objectPath(sha256(bytes)), bytes),
    abandonRecordWrite: (record) => abandon(recordPath(record.key), Buffer.from(JSON.stringify(record, null, 2))),
    async leftovers() {
      const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[])
      return entries.filter((entry) => entry.includes(TEMP_MARKER)).length
    },
  }
  return { store: new FileSystemStore(dir), open: () => new FileSystemStore(dir), faults, cleanup }
}

testResultStore('FileSystemStore', fileSystemStore)

describe('FileSystemStore conformance faults', () => {
  it('are real: each abandoned write leaves a temporary file that only a sweep removes', async () => {
    const { store, faults, cleanup } = await fileSystemStore()
    try {
      await faults.abandonObjectWrite(Buffer.from('abandoned'))
      await faults.abandonRecordWrite({ version: 1, key: sha256('key'), provider: 'local', model: 'local-v1', selectedTake: 1, takes: [] })
      expect(await faults.leftovers()).toBe(2)
      expect(await store.listObjects()).toEqual([])
      expect(await store.listRecords()).toEqual([])
      expect(await store.sweep()).toBe(2)
      expect(await faults.leftovers()).toBe(0)
    } finally {
      await cleanup()
    }
  })
})
