import { readdir, readFile, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../test/helpers.js'
import { RefusalError } from './errors.js'
import { openProject } from './project.js'
import { ProviderError } from './providers/http.js'
import { createLocalProvider } from './providers/local-provider.js'
import type { EditRequest, ImageEditProvider } from './providers/provider.js'
import { createProviderRegistry } from './providers/registry.js'
import type { RunEvent } from './run/events.js'
import { FileSystemStore } from './store/fs-store.js'
import { Journal } from './store/journal.js'

/** The local provider, counting what it is asked for. */
function countingLocal(extra: Partial<Record<'toapis', ImageEditProvider>> = {}) {
  const local = createLocalProvider()
  const calls: EditRequest[] = []
  const provider: ImageEditProvider = {
    ...local,
    generate: (request, prepared, context) => {
      calls.push(request)
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return { calls, providers: createProviderRegistry({ overrides: { local: provider, ...extra } }) }
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

const stageManifest = (recipes: Record<string, number>) =>
  `version: 1\ndefaults: { provider: local }\nrecipes:\n${Object.entries(recipes)
    .map(([name, n]) => `  ${name}:\n    prompt: ${name} prompt\n    refs: [refs/a.png]\n    n: ${n}\n`)
    .join('')}`

describe('build stages (build/)', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function setup(recipes: Record<string, number>) {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'images.edit.yaml': stageManifest(recipes), 'refs/a.png': await makeImage({ color: { r: 200, g: 10, b: 10 } }) })
    return dir
  }

  it('--no-keep-going: a commit that fails stops the run before the next job starts, even while the failing write takes its time', async () => {
    const dir = await setup({ a: 1, b: 1, c: 1 })
    const { calls, providers } = countingLocal()
    // Every output write fails, a moment after it starts (a slow disk giving up).
    const store = new FileSystemStore(`${dir}/.images-edit`)
    store.copyObjectTo = async () => {
      await sleep(150)
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' })
    }
    const project = await openProject({ cwd: dir, providers, store })
    const result = await project.build({ frozen: false, concurrency: 1, keepGoing: false })
    expect(calls).toHaveLength(1)
    expect(result.failed.map((item) => item.id)).toHaveLength(1)
    expect(result.failed[0]?.error).toMatchObject({ code: 'STORE', message: expect.stringMatching(/no space|disk is full/i) })
    expect(result.notStarted).toHaveLength(2)
    expect(result.done).toEqual([])
  })

  it('--no-keep-going: an ingest that fails starts no job at all', async () => {
    const dir = await setup({ a: 1, b: 1 })
    await (await openProject({ cwd: dir, providers: countingLocal().providers })).build({ frozen: false })
    // n of a grows: its first image must come back into a store that now refuses every write.
    await writeFiles(dir, { 'images.edit.yaml': stageManifest({ a: 2, b: 1, c: 1 }) })
    const store = new FileSystemStore(`${dir}/.images-edit`)
    store.hasObject = async () => false
    store.putObject = async () => {
      throw Object.assign(new Error('read-only file system'), { code: 'EROFS', syscall: 'open' })
    }
    const { calls, providers } = countingLocal()
    const project = await openProject({ cwd: dir, providers, store })
    const result = await project.build({ frozen: false, keepGoing: false })
    expect(calls).toEqual([])
    expect(result.failed.map((item) => item.id)).toEqual(['a'])
    expect(result.notStarted).toEqual(['c'])
  })

  it('an event listener that throws ends the build with its error once every job is over; the lock still records what finished', async () => {
    const dir = await setup({ a: 1, b: 1 })
    const { providers } = countingLocal()
    const project = await openProject({ cwd: dir, providers })
    let done = 0
    const onEvent = (event: RunEvent) => {
      if (event.type === 'job:done') done++
      if (event.type === 'job:started' && event.id === 'b') throw new Error('listener bug')
      if (event.type === 'job:failed') throw new Error('listener bug')
    }
    await expect(project.build({ frozen: false, concurrency: 1, onEvent })).rejects.toThrow('listener bug')
    expect(done).toBe(1)
    expect(Object.keys((await project.readLock()).jobs)).toEqual(['a'])
  })

  it('Ctrl-C while a paid request waits for its rate-gate turn ends the wait at once: nothing more is sent, the job is not started', async () => {
    const dir = await setup({ a: 1, b: 1 })
    await writeFiles(dir, { 'images.edit.yaml': stageManifest({ a: 1, b: 1 }).replace('provider: local', 'provider: aa') })
    const local = createLocalProvider()
    const calls: EditRequest[] = []
    const stop = new AbortController()
    const aa: ImageEditProvider = {
      ...local,
      id: 'aa',
      generate: (request, prepared, context) => {
        calls.push(request)
        stop.abort()
        return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
      },
    }
    // One paid request a minute: the second job's request would wait 60 s for its turn.
    const config = (id: 'aa' | 'toapis' | 'openai') => ({
      id,
      baseUrl: 'http://127.0.0.1:9',
      apiKeyEnv: 'AA_API_KEY',
      apiKey: 'k',
      requestsPerMinute: 1,
      pollIntervalMs: 1000,
      taskTimeoutMs: 60_000,
    })
    const providers = createProviderRegistry({ overrides: { aa }, config })
    const project = await openProject({ cwd: dir, providers })
    const started = Date.now()
    const result = await project.build({ frozen: false, concurrency: 2, signal: stop.signal })
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(calls).toHaveLength(1)
    expect(result.interrupted).toBe(true)
    expect(result.done).toHaveLength(1)
    expect(result.notStarted).toHaveLength(1)
  })

  it('a paid task of an earlier run that the service calls unknown stays journaled (a wrong base URL must not drop a paid id)', async () => {
    const dir = await setup({ a: 1 })
    const journal = new Journal(`${dir}/.images-edit/journal`)
    await journal.put({
      key: 'f'.repeat(64),
      take: 1,
      firstIndex: 0,
      count: 1,
      provider: 'toapis',
      model: 'gpt-image-2',
      taskId: 'tsk_gone',
      submittedAt: new Date().toISOString(),
    })
    const toapis: ImageEditProvider = {
      ...createLocalProvider(),
      id: 'toapis',
      poll: async () => {
        throw new ProviderError('toapis: 404 task not found', { provider: 'toapis', stage: 'poll', status: 404, providerCode: 'task_not_exist' })
      },
    }
    const { providers } = countingLocal({ toapis })
    const project = await openProject({ cwd: dir, providers })
    const warnings: string[] = []
    await project.build({ frozen: false, onEvent: (event) => event.type === 'warning' && warnings.push(event.message) })
    expect((await project.inFlight()).map((entry) => entry.taskId)).toEqual(['tsk_gone'])
    expect(warnings.join('\n')).toMatch(/tsk_gone .*could not be collected yet.*stays journaled/)
  })
})
