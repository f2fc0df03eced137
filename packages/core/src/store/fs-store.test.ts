import { chmod, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers.js'
import { sha256 } from '../hash/content-hash.js'
import { sweepTemporaryFiles, TEMP_MARKER, writeFileAtomic } from './atomic-write.js'
import { FileSystemStore } from './fs-store.js'
import type { JobRecord } from './store.js'

const key = 'f'.repeat(64)
const record: JobRecord = {
  version: 1,
  key,
  provider: 'local',
  model: 'local-v1',
  selectedTake: 1,
  takes: [{ take: 1, images: [{ sha256: 'a'.repeat(64), width: 1, height: 1, format: 'png', bytes: 1 }], runs: [] }],
}

describe('FileSystemStore', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('stores objects by content hash and verifies them before serving', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const store = new FileSystemStore(dir)
    const hash = await store.putObject(Buffer.from('hello'))
    expect(hash).toBe(sha256('hello'))
    expect(Buffer.from((await store.getObject(hash)) ?? [])).toEqual(Buffer.from('hello'))
    expect(await store.listObjects()).toEqual([hash])

    await writeFile(join(dir, 'objects', hash.slice(0, 2), hash.slice(2)), 'hellp')
    expect(await store.getObject(hash)).toBeUndefined()
    expect(await store.hasObject(hash)).toBe(false)
  })

  it("copies an object to an output with the mode new files get here, not the stored object's, and leaves no temporary file", async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const store = new FileSystemStore(join(dir, '.images-edit'))
    const hash = await store.putObject(Buffer.from('a stored image'))
    // A store restored from a cache with read-only files.
    await chmod(join(dir, '.images-edit', 'objects', hash.slice(0, 2), hash.slice(2)), 0o444)
    await writeFile(join(dir, 'fresh'), '')
    const expected = (await stat(join(dir, 'fresh'))).mode & 0o777
    expect(await store.copyObjectTo(hash, join(dir, 'out', 'image.png'))).toBe(true)
    expect(await readFile(join(dir, 'out', 'image.png'), 'utf8')).toBe('a stored image')
    expect((await stat(join(dir, 'out', 'image.png'))).mode & 0o777).toBe(expected)
    expect(await readdir(join(dir, 'out'))).toEqual(['image.png'])
    // Missing: false, and nothing written.
    expect(await store.copyObjectTo(sha256('never stored'), join(dir, 'out', 'other.png'))).toBe(false)
    expect(await readdir(join(dir, 'out'))).toEqual(['image.png'])
  })

  it('copies an object it wrote itself without reading it back, but never once the file has changed since', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const store = new FileSystemStore(join(dir, '.images-edit'))
    const object = (hash: string) => join(dir, '.images-edit', 'objects', hash.slice(0, 2), hash.slice(2))
    const sameSize = await store.putObject(Buffer.from('stored image one'))
    const shorter = await store.putObject(Buffer.from('stored image two'))
    // Damaged after the write: same size in place (its mtime moves on), or cut short.
    await writeFile(object(sameSize), 'stored image ONE')
    const later = new Date(Date.now() + 5_000)
    await utimes(object(sameSize), later, later)
    await writeFile(object(shorter), 'stored')
    await writeFile(join(dir, 'one.png'), 'mine')
    expect(await store.copyObjectTo(sameSize, join(dir, 'one.png'))).toBe(false)
    expect(await store.copyObjectTo(shorter, join(dir, 'two.png'))).toBe(false)
    expect(await readFile(join(dir, 'one.png'), 'utf8')).toBe('mine')
    expect((await readdir(dir)).sort()).toEqual(['.images-edit', 'one.png'])
    // A store object written by someone else (another process) is verified as before; once put
    // again here, it is sound and copied.
    const fresh = new FileSystemStore(join(dir, '.images-edit'))
    expect(await fresh.putObject(Buffer.from('stored image one'))).toBe(sameSize)
    expect(await fresh.copyObjectTo(sameSize, join(dir, 'one.png'))).toBe(true)
    expect(await readFile(join(dir, 'one.png'), 'utf8')).toBe('stored image one')
  })

  it('round-trips records and treats a damaged or tampered record as missing', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const store = new FileSystemStore(dir)
    await store.putRecord(record)
    expect(await store.getRecord(key)).toEqual(record)
    expect(await store.listRecords()).toEqual([key])

    const path = join(dir, 'records', `${key}.json`)
    const text = await readFile(path, 'utf8')
    await writeFile(path, text.slice(0, text.length / 2))
    expect(await store.getRecord(key)).toBeUndefined()
    await writeFile(path, text.replace('"width": 1', '"width": 2'))
    expect(await store.getRecord(key)).toBeUndefined()
  })

  it('writes atomically and sweeps temporary files of dead writers only', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFileAtomic(join(dir, 'sub', 'file.txt'), 'content')
    expect(await readFile(join(dir, 'sub', 'file.txt'), 'utf8')).toBe('content')
    expect((await readdir(join(dir, 'sub'))).filter((name) => name.startsWith(TEMP_MARKER))).toEqual([])

    // pid 2^22+1 is above Linux's pid_max default: certainly not alive.
    await writeFile(join(dir, `${TEMP_MARKER}x.json-4194305-abcd`), 'partial')
    await writeFile(join(dir, `${TEMP_MARKER}y.json-${process.pid}-abcd`), 'in progress')
    expect(await sweepTemporaryFiles(dir)).toBe(1)
    expect((await readdir(dir)).sort()).toEqual([`${TEMP_MARKER}y.json-${process.pid}-abcd`, 'sub'])
  })
})
