/**
 * Issue 14 point 3: a job holds its provider slot only while the provider works for it. Each case
 * runs a real build in this process against the fake provider server on loopback (real HTTP,
 * real images) and reads the order of events and of the requests the server received; nothing
 * here asserts on time.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type FakeProviderServer, startFakeProviderServer } from '@images-edit/fake-provider'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { openProject } from '../project.js'
import { createProviderRegistry } from '../providers/registry.js'
import { FileSystemStore } from '../store/fs-store.js'
import type { RunEvent } from './events.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function setup(provider: 'aa' | 'toapis', jobs: readonly string[], settings: { concurrency: number; pollIntervalMs?: number; latencyMs?: number }) {
  const server = await startFakeProviderServer({ latencyMs: settings.latencyMs ?? 100 })
  cleanups.push(() => server.close())
  const { dir, cleanup } = await tempDir()
  cleanups.push(cleanup)
  const recipes = jobs.map((name) => `  ${name}:\n    prompt: ${name} prompt\n    refs: [refs/a.png]\n`).join('')
  await writeFiles(dir, {
    'images.edit.yaml': `version: 1\ndefaults: { provider: ${provider} }\nrecipes:\n${recipes}`,
    'refs/a.png': await makeImage({ color: { r: 200, g: 10, b: 10 } }),
  })
  const providers = createProviderRegistry({
    config: (id) => ({
      id,
      baseUrl: server.baseUrls[id],
      apiKeyEnv: 'KEY',
      apiKey: server.apiKey,
      concurrency: settings.concurrency,
      pollIntervalMs: settings.pollIntervalMs ?? 100,
      taskTimeoutMs: 60_000,
    }),
  })
  return { server, dir, providers }
}

/** The job a request to the fake server was for (its prompt names it), in arrival order. */
function submitsOf(server: FakeProviderServer): string[] {
  return server.submissions.map((submission) => submission.prompt.split(' ')[0] as string)
}

/** Resolves once `check` holds, or after `limitMs` (so a broken runner fails the test instead of hanging it). */
async function until(check: () => boolean, limitMs = 20_000): Promise<boolean> {
  for (const end = Date.now() + limitMs; Date.now() < end; await sleep(10)) if (check()) return true
  return check()
}

describe('provider slots', () => {
  it("a job's commit does not hold its slot: at concurrency 2, with both first jobs' outputs still being written, the third job is paid for", async () => {
    const { server, dir, providers } = await setup('aa', ['a', 'b', 'c'], { concurrency: 2 })
    const store = new FileSystemStore(`${dir}/.images-edit`)
    const copy = store.copyObjectTo.bind(store)
    const thirdPaidDuringCommits: boolean[] = []
    store.copyObjectTo = async (...args) => {
      // Every output write waits for the third job's paid call to reach the server.
      thirdPaidDuringCommits.push(await until(() => server.submissions.length >= 3))
      return copy(...args)
    }
    const project = await openProject({ cwd: dir, providers, store })
    const result = await project.build({ frozen: false, concurrency: 2 })
    expect(result.done.sort()).toEqual(['a', 'b', 'c'])
    expect(thirdPaidDuringCommits).toEqual([true, true, true])
    expect(server.maxInFlight.byRoute['aa.generate']).toBe(2)
    expect(server.submits()).toBe(3)
  })

  it('--no-keep-going at concurrency 2: a failed commit stops every job not yet started, while the slots moved on during the commit', async () => {
    const jobs = ['a', 'b', 'c', 'd', 'e', 'f']
    const { server, dir, providers } = await setup('aa', jobs, { concurrency: 2 })
    const store = new FileSystemStore(`${dir}/.images-edit`)
    store.copyObjectTo = async () => {
      // A slow disk giving up: meanwhile the freed slots start other jobs.
      await until(() => server.submissions.length >= 3)
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' })
    }
    const events: RunEvent[] = []
    const project = await openProject({ cwd: dir, providers, store })
    const result = await project.build({ frozen: false, concurrency: 2, keepGoing: false, onEvent: (event) => events.push(event) })
    const failedAt = events.findIndex((event) => event.type === 'job:failed' && event.error.code === 'STORE')
    expect(failedAt).toBeGreaterThan(-1)
    // Nothing starts after the failure, and nothing started is paid for twice.
    expect(events.slice(failedAt).filter((event) => event.type === 'job:started')).toEqual([])
    const started = events.filter((event) => event.type === 'job:started').map((event) => (event as { id: string }).id)
    expect(submitsOf(server).sort()).toEqual(started.sort())
    expect(started.length).toBeGreaterThanOrEqual(3)
    expect(result.notStarted.length).toBeGreaterThan(0)
    expect(result.done).toEqual([])
  })

  it('at concurrency 1 a job keeps its slot until its commit: with --no-keep-going a failed commit stops the run before the next job is paid for', async () => {
    const { server, dir, providers } = await setup('aa', ['a', 'b', 'c'], { concurrency: 1 })
    const store = new FileSystemStore(`${dir}/.images-edit`)
    store.copyObjectTo = async () => {
      await sleep(100)
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' })
    }
    const project = await openProject({ cwd: dir, providers, store })
    const result = await project.build({ frozen: false, concurrency: 1, keepGoing: false })
    expect(server.submits()).toBe(1)
    expect(result.notStarted).toHaveLength(2)
  })

  it('a submit refused with Retry-After gives its slot back: the next job is submitted during the wait; the cap of 1 holds', async () => {
    const { server, dir, providers } = await setup('toapis', ['a', 'b'], { concurrency: 1, latencyMs: 100 })
    server.fault('toapis.submit', { kind: 'status', status: 429, retryAfter: 1 })
    const events: RunEvent[] = []
    const project = await openProject({ cwd: dir, providers })
    const result = await project.build({ frozen: false, onEvent: (event) => events.push(event) })
    expect(result.done.sort()).toEqual(['a', 'b'])
    const submits = server.requests.filter((entry) => entry.route === 'toapis.submit')
    expect(submits.map((entry) => entry.fault ?? 'accepted')).toEqual(['status', 'accepted', 'accepted'])
    const waited = events.filter((event) => event.type === 'job:progress' && event.stage === 'waiting').map((event) => (event as { id: string }).id)
    expect(waited).toHaveLength(1)
    // The refused job is paid for last: the other one used the slot while it waited, inside the
    // Retry-After window (server timestamps), which a job keeping its slot could not allow.
    expect(submitsOf(server)).toEqual([waited[0] === 'a' ? 'b' : 'a', waited[0]])
    const [refused, other] = submits
    expect(other?.startedAt).toBeLessThan((refused?.endedAt ?? 0) + 1000)
    expect(server.maxActiveTasks).toBe(1)
  })

  it('a poll refused with Retry-After after the task is done by its progress gives the slot back for the wait; the server never runs more than the cap', async () => {
    const { server, dir, providers } = await setup('toapis', ['a', 'b'], { concurrency: 1, latencyMs: 600, pollIntervalMs: 300 })
    let refused = false
    const onEvent = (event: RunEvent) => {
      // After the first poll reported progress, the next poll of that task is refused.
      if (!refused && event.type === 'job:progress' && event.percent !== undefined && event.percent > 0) {
        refused = true
        server.fault('toapis.poll', { kind: 'status', status: 429, retryAfter: 1 })
      }
    }
    const project = await openProject({ cwd: dir, providers })
    const result = await project.build({ frozen: false, onEvent })
    expect(result.done.sort()).toEqual(['a', 'b'])
    expect(refused).toBe(true)
    const routes = server.requests.filter((entry) => entry.route === 'toapis.submit' || entry.route === 'toapis.poll')
    const refusal = routes.findIndex((entry) => entry.fault === 'status')
    // The second submit comes during the first task's refused wait, before that task is polled again.
    const nextSubmit = routes.findIndex((entry, index) => index > refusal && entry.route === 'toapis.submit')
    const nextPoll = routes.findIndex((entry, index) => index > refusal && entry.route === 'toapis.poll')
    expect(refusal).toBeGreaterThan(-1)
    expect(nextSubmit).toBeGreaterThan(refusal)
    expect(nextSubmit).toBeLessThan(nextPoll)
    expect(server.maxActiveTasks).toBe(1)
    expect(server.submits()).toBe(2)
  })

  it('the first poll aims at the latency seen, not at a configured interval far too long: ≤ 3 polls a job, the cap holds', async () => {
    const jobs = Array.from({ length: 12 }, (_, index) => `j${index}`)
    // Tasks take 300 ms; the configured first poll (2 s) would make each job wait almost 7× that.
    const { server, dir, providers } = await setup('toapis', jobs, { concurrency: 2, latencyMs: 300, pollIntervalMs: 2000 })
    const project = await openProject({ cwd: dir, providers })
    const result = await project.build({ frozen: false })
    expect(result.done).toHaveLength(jobs.length)
    expect(server.polls / jobs.length).toBeLessThanOrEqual(3)
    expect(server.maxActiveTasks).toBeLessThanOrEqual(2)
    // When each task was first polled, after its submit (server clock): the last ones well before the configured 2 s.
    const firstPolls = server.tasks().map((task) => {
      const poll = server.requests.find((entry) => entry.route === 'toapis.poll' && entry.path.includes(task.id))
      return (poll?.startedAt ?? Number.POSITIVE_INFINITY) - task.createdAt
    })
    expect(firstPolls[0]).toBeGreaterThanOrEqual(2000)
    for (const wait of firstPolls.slice(-4)) expect(wait).toBeLessThan(1000)
    expect(server.submits()).toBe(jobs.length)
  })
})
