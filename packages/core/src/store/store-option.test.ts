import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { openProject } from '../project.js'
import { FileSystemStore } from './fs-store.js'
import type { ResultStore } from './store.js'

/**
 * A store elsewhere (standing in for a shared remote one), seen only through {@link ResultStore}:
 * a plain object, so the build cannot reach anything `FileSystemStore` has beyond the interface.
 */
function elsewhere(dir: string): { store: ResultStore; calls: Map<string, number> } {
  const inner = new FileSystemStore(dir)
  const calls = new Map<string, number>()
  const count = <T>(name: string, value: T): T => {
    calls.set(name, (calls.get(name) ?? 0) + 1)
    return value
  }
  const store: ResultStore = {
    location: `remote:${dir}`,
    hasObject: (hash) => count('hasObject', inner.hasObject(hash)),
    getObject: (hash) => count('getObject', inner.getObject(hash)),
    putObject: (bytes) => count('putObject', inner.putObject(bytes)),
    putObjectFrom: (source, hash) => count('putObjectFrom', inner.putObjectFrom(source, hash)),
    copyObjectTo: (hash, target) => count('copyObjectTo', inner.copyObjectTo(hash, target)),
    objectSize: (hash) => count('objectSize', inner.objectSize(hash)),
    deleteObject: (hash) => count('deleteObject', inner.deleteObject(hash)),
    listObjects: () => count('listObjects', inner.listObjects()),
    getRecord: (key) => count('getRecord', inner.getRecord(key)),
    putRecord: (record) => count('putRecord', inner.putRecord(record)),
    recordSize: (key) => count('recordSize', inner.recordSize(key)),
    deleteRecord: (key) => count('deleteRecord', inner.deleteRecord(key)),
    listRecords: () => count('listRecords', inner.listRecords()),
    sweep: () => count('sweep', inner.sweep()),
  }
  return { store, calls }
}

describe('openProject({ store })', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('builds, restores and collects garbage through the given store only', async () => {
    const project = await tempDir()
    const remote = await tempDir()
    cleanups.push(project.cleanup, remote.cleanup)
    const dir = project.dir
    const manifest = (prompt: string) => `version: 1\nout: out\ndefaults: { provider: local }\nrecipes:\n  a:\n    prompt: ${prompt}\n    refs: [refs/a.png]\n`
    await writeFiles(dir, { 'images.edit.yaml': manifest('first'), 'refs/a.png': await makeImage() })
    const { store, calls } = elsewhere(remote.dir)

    const built = await (await openProject({ cwd: dir, store })).build({ frozen: false })
    expect(built.done).toEqual(['a'])
    const output = await readFile(join(dir, 'out/a.png'))
    expect(calls.get('putObject')).toBeGreaterThan(0)
    expect(calls.get('putRecord')).toBeGreaterThan(0)
    expect(calls.get('copyObjectTo')).toBeGreaterThan(0)
    expect(calls.get('sweep')).toBeGreaterThan(0)
    // Results live in the given store, not in `.images-edit/`.
    expect(existsSync(join(dir, '.images-edit', 'objects'))).toBe(false)
    expect(existsSync(join(dir, '.images-edit', 'records'))).toBe(false)
    expect(await store.listObjects()).toHaveLength(1)

    // A lost output comes back from the store, at no cost.
    await rm(join(dir, 'out/a.png'))
    const restored = await (await openProject({ cwd: dir, store })).build({ frozen: true })
    expect(restored.restored).toEqual(['a'])
    expect(await readFile(join(dir, 'out/a.png'))).toEqual(output)

    // A new recipe version; gc then drops the old key's record and image, sized by the store.
    await writeFiles(dir, { 'images.edit.yaml': manifest('second') })
    const next = await openProject({ cwd: dir, store })
    await next.build({ frozen: false })
    const report = await next.gc()
    expect(report.records).toHaveLength(1)
    expect(report.objects).toHaveLength(1)
    expect(report.bytes).toBeGreaterThan(0)
    expect(calls.get('objectSize')).toBeGreaterThan(0)
    expect(calls.get('recordSize')).toBeGreaterThan(0)
    expect(await store.listRecords()).toHaveLength(1)
    expect(await store.listObjects()).toHaveLength(1)
  })
})
