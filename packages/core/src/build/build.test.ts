import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { openProject } from '../project.js'
import { ProviderError } from '../providers/http.js'
import { createLocalProvider } from '../providers/local-provider.js'
import type { EditRequest, ImageEditProvider } from '../providers/provider.js'
import { createProviderRegistry } from '../providers/registry.js'
import type { RunEvent } from '../run/events.js'
import { FileSystemStore } from '../store/fs-store.js'
import { Journal } from '../store/journal.js'

/** The local provider, counting the paid requests it is asked for. */
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

const manifest = (recipes: Record<string, number>) =>
  `version: 1\ndefaults: { provider: local }\nrecipes:\n${Object.entries(recipes)
    .map(([name, n]) => `  ${name}:\n    prompt: ${name} prompt\n    refs: [refs/a.png]\n    n: ${n}\n`)
    .join('')}`

describe('build stages', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function setup(recipes: Record<string, number>) {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'images.edit.yaml': manifest(recipes), 'refs/a.png': await makeImage({ color: { r: 200, g: 10, b: 10 } }) })
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
    await writeFiles(dir, { 'images.edit.yaml': manifest({ a: 2, b: 1, c: 1 }) })
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
