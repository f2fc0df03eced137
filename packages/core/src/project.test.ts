import { readdir, readFile, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../test/helpers.js'
import { RefusalError } from './errors.js'
import { openProject } from './project.js'
import { createLocalProvider } from './providers/local-provider.js'
import type { EditRequest, ImageEditProvider } from './providers/provider.js'
import { createProviderRegistry } from './providers/registry.js'

/** The local provider, counting what it is asked for. */
function countingLocal() {
  const local = createLocalProvider()
  const calls: EditRequest[] = []
  const provider: ImageEditProvider = {
    ...local,
    generate: (request, prepared, context) => {
      calls.push(request)
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return { calls, providers: createProviderRegistry({ overrides: { local: provider } }) }
}

const manifest = (n: number) => `version: 1
defaults: { provider: local }
recipes:
  a:
    prompt: first
    refs: [refs/a.png]
    n: ${n}
  b:
    prompt: second
    refs: [refs/a.png, refs/b.png]
    ratio: "16:9"
`

async function agePast(dir: string): Promise<void> {
  const past = new Date(Date.now() - 60_000)
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name)
      if (entry.isDirectory()) {
        if (entry.name !== '.images-edit') await walk(path)
      } else await utimes(path, past, past)
    }
  }
  await walk(dir)
}

describe('Project.build', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function setup(n = 2) {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, {
      'images.edit.yaml': manifest(n),
      'refs/a.png': await makeImage({ color: { r: 200, g: 10, b: 10 } }),
      'refs/b.png': await makeImage({ color: { r: 10, g: 10, b: 200 } }),
    })
    return dir
  }

  it('a no-op rebuild calls no provider, leaves the lock byte-identical and reads no image bytes', async () => {
    const dir = await setup()
    const { calls, providers } = countingLocal()
    const first = await openProject({ cwd: dir, providers })
    const built = await first.build({ frozen: false })
    expect(built.done.sort()).toEqual(['a', 'b'])
    expect(calls.map((call) => call.n).sort()).toEqual([1, 2])
    const lock = await readFile(join(dir, 'images.edit.lock'))

    // Let every file's mtime fall out of the racy window, as it does on any real project after a moment.
    await agePast(dir)
    const settle = await openProject({ cwd: dir, providers })
    await settle.build({ frozen: true })

    const noop = await openProject({ cwd: dir, providers })
    const result = await noop.build({ frozen: true })
    expect(result.fresh.sort()).toEqual(['a', 'b'])
    expect(result.done).toEqual([])
    expect(noop.workspace.fileIndex.hashed).toBe(0)
    expect(calls).toHaveLength(2)
    expect(await readFile(join(dir, 'images.edit.lock'))).toEqual(lock)
  })

  it('growing n pays only for the new image; shrinking pays nothing', async () => {
    const dir = await setup(2)
    const { calls, providers } = countingLocal()
    await (await openProject({ cwd: dir, providers })).build({ frozen: false })
    const before = await readFile(join(dir, 'generated/a-2.png'))
    await writeFiles(dir, { 'images.edit.yaml': manifest(3) })
    const grown = await (await openProject({ cwd: dir, providers })).build({ frozen: false })
    expect(grown.done).toEqual(['a'])
    expect(calls.at(-1)).toMatchObject({ n: 1, firstIndex: 2 })
    expect(await readFile(join(dir, 'generated/a-2.png'))).toEqual(before)
    await writeFiles(dir, { 'images.edit.yaml': manifest(1) })
    const count = calls.length
    const shrunk = await (await openProject({ cwd: dir, providers })).build({ frozen: false })
    expect(calls).toHaveLength(count)
    expect(shrunk.done).toEqual([])
    expect((await readFile(join(dir, 'images.edit.lock'), 'utf8')).match(/generated\/a/g)).toEqual(['generated/a'])
  })

  it('frozen and budget refusals happen before any work', async () => {
    const dir = await setup()
    const { calls, providers } = countingLocal()
    const project = await openProject({ cwd: dir, providers })
    await expect(project.build({ frozen: true })).rejects.toBeInstanceOf(RefusalError)
    await expect(project.build({ frozen: false, maxImages: 2 })).rejects.toMatchObject({ code: 'BUDGET' })
    expect(calls).toHaveLength(0)
    expect(await readdir(dir)).not.toContain('generated')
    expect(await readdir(dir)).not.toContain('images.edit.lock')
    const result = await project.build({ frozen: false, maxImages: 3 })
    expect(result.done).toHaveLength(2)
  })

  it('never overwrites a lock edited by hand unless forced', async () => {
    const dir = await setup(1)
    const { providers } = countingLocal()
    await (await openProject({ cwd: dir, providers })).build({ frozen: false })
    const path = join(dir, 'images.edit.lock')
    const edited = (await readFile(path, 'utf8')).replace('prompt: first', 'prompt: first # my note')
    await writeFiles(dir, { 'images.edit.lock': edited })
    await expect((await openProject({ cwd: dir, providers })).build({ frozen: false })).rejects.toMatchObject({ code: 'LOCK_EDITED' })
    expect(await readFile(path, 'utf8')).toBe(edited)
    // Line endings converted by git are not an edit.
    await writeFiles(dir, { 'images.edit.lock': edited.replace(' # my note', '').replace(/\n/g, '\r\n') })
    await (await openProject({ cwd: dir, providers })).build({ frozen: false })
    await writeFiles(dir, { 'images.edit.lock': edited })
    await (await openProject({ cwd: dir, providers })).build({ frozen: false, forceLock: true })
    expect(await readFile(path, 'utf8')).not.toContain('my note')
  })

  it('a forced take keeps the old take in the store until gc', async () => {
    const dir = await setup(1)
    const { calls, providers } = countingLocal()
    await (await openProject({ cwd: dir, providers })).build({ frozen: false })
    const forced = await (await openProject({ cwd: dir, providers })).build({ frozen: false, force: ['a'] })
    expect(forced.done).toEqual(['a'])
    expect(calls).toHaveLength(3)
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toMatch(/take: 2/)
    const project = await openProject({ cwd: dir, providers })
    const dry = await project.gc({ dryRun: true })
    expect(dry.takes).toHaveLength(1)
    const again = await project.gc({ dryRun: true })
    expect(again.takes).toEqual(dry.takes)
    const done = await project.gc()
    expect(done.takes).toEqual(dry.takes)
    expect((await project.gc({ dryRun: true })).takes).toEqual([])
  })
})
