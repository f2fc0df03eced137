/**
 * Crash safety: the real CLI is killed with SIGKILL at every crash point of a build, 10 trials
 * per point with 1–4 jobs, n 1–2, provider concurrency 1 or 3, and the n-th arrival chosen so the
 * kill lands at different jobs. The product has no fault hook: the kill is placed from outside by
 * a preload (kill-at.mjs, `NODE_OPTIONS=--import`) at the file operation or HTTP exchange the
 * engine performs at that point (see {@link KILL_AT}). After each kill a plain rerun must:
 *
 * - exit 0, every output with the exact size and the sha256 the lock gives it;
 * - leave every record verifying (FileSystemStore.getRecord checks its checksum) and naming only
 *   objects that exist, every object named by the sha256 of its bytes;
 * - pay each job exactly once: a job whose task id reached the disk (journal or record) before the
 *   kill is never submitted again. The one exception, with concurrency > 1, is another job whose
 *   submit was in flight when the process died — accepted by the service but not yet journaled; it
 *   is paid twice (documented in docs/RELIABILITY.md). With concurrency 1 nothing else is in flight,
 *   so every job is paid exactly once;
 * - leave no `.images-edit-tmp-` file anywhere in the project, and an empty journal.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FakeProviderServer } from '@images-edit/fake-provider'
import { afterAll, describe, type ExpectStatic, it } from 'vitest'
import { readLockFile, runCli, startCli, writeFiles } from '../helpers.js'
import { journalFiles, Resources, serverEnv } from '../providers/harness.js'
import { lockProblems, storeProblems, taskIdsOnDisk, temporaryFiles } from './integrity.js'

const POINTS = ['after-upload', 'after-submit', 'mid-poll', 'mid-download', 'mid-commit-store', 'mid-commit-output', 'mid-commit-lock'] as const
type Point = (typeof POINTS)[number]

const PRELOAD = join(import.meta.dirname, 'kill-at.mjs')
/**
 * Where each point is, as what the engine does there (toapis: upload, submit, poll, download;
 * kill-at.mjs describes the events). Paths are absolute: the patterns match their ends.
 */
const KILL_AT: Record<Point, { on: 'open' | 'rename' | 'renamed' | 'request' | 'response'; match: string }> = {
  // The inputs are uploaded and the paid submit is about to leave: nothing of it sent yet.
  'after-upload': { on: 'request', match: '^POST \\S*/images/generations$' },
  // The submit's task id has just reached the journal.
  'after-submit': { on: 'renamed', match: '/\\.images-edit/journal/[0-9a-f]{64}-\\d+-\\d+\\.json$' },
  // A status answer has arrived and is not acted on yet.
  'mid-poll': { on: 'response', match: '^GET \\S*/images/generations/[^/?]+$' },
  // An image is downloaded (and decoded) and its store object not yet begun.
  'mid-download': { on: 'open', match: '/\\.images-edit/objects/[0-9a-f]{2}/\\.images-edit-tmp-[^/]*$' },
  // An image's store object has just been written; its record is not.
  'mid-commit-store': { on: 'renamed', match: '/\\.images-edit/objects/[0-9a-f]{2}/[0-9a-f]{62}$' },
  // Images stored, records and the outputs ledger written, an output file not yet begun.
  'mid-commit-output': { on: 'open', match: '/out/\\.images-edit-tmp-[^/]*$' },
  // The new lock is complete in its temporary file and not yet renamed over images.edit.lock.
  'mid-commit-lock': { on: 'rename', match: '/images\\.edit\\.lock$' },
}
/** Environment that makes the CLI kill itself at the `nth` arrival of `point`. */
const killAt = (point: Point, nth: number) => ({
  NODE_OPTIONS: `--import=${PRELOAD}`,
  IMAGES_EDIT_TEST_KILL_AT: JSON.stringify({ ...KILL_AT[point], nth }),
})
const TRIALS = 10
/** Jobs per trial, by trial number. */
const JOBS = [1, 2, 3, 4, 2, 3, 1, 4, 3, 2]

/** Trials run at most this many at a time (each is two CLI processes and a fake server). */
const slots = { free: 4, waiting: [] as (() => void)[] }
async function withSlot<T>(work: () => Promise<T>): Promise<T> {
  while (slots.free === 0) await new Promise<void>((resolve) => slots.waiting.push(resolve))
  slots.free--
  try {
    return await work()
  } finally {
    slots.free++
    slots.waiting.shift()?.()
  }
}

interface Trial {
  point: Point
  trial: number
  jobs: number
  /** n of each job. */
  ns: number[]
  concurrency: number
  nth: number
}

/** How often `point` is reached in a full build of the trial's jobs (one request per job: n ≤ 4). */
function arrivals(point: Point, ns: readonly number[]): number {
  if (point === 'mid-commit-lock') return 1
  if (point === 'mid-download' || point === 'mid-commit-store' || point === 'mid-commit-output') return ns.reduce((sum, n) => sum + n, 0)
  // after-upload, after-submit: once per request; mid-poll: at least once per request.
  return ns.length
}

function trialOf(point: Point, trial: number): Trial {
  const jobs = JOBS[trial] ?? 1
  const ns = Array.from({ length: jobs }, (_, index) => (index === jobs - 1 && trial % 3 === 2 ? 2 : 1))
  return { point, trial, jobs, ns, concurrency: trial % 2 === 0 ? 1 : 3, nth: 1 + (trial % arrivals(point, ns)) }
}

const figures = { trials: 0, kills: 0, reruns: 0, jobs: 0, submits: 0, lostInFlight: 0, journaledBeforeKill: 0 }
afterAll(() => {
  console.log(`[reliability figures] crash: ${JSON.stringify(figures)}`)
})

const prompt = (item: Trial, job: number) => `crash ${item.point} trial ${item.trial} job ${job}`

async function runTrial(expect: ExpectStatic, item: Trial): Promise<void> {
  const resources = new Resources()
  try {
    const server: FakeProviderServer = await resources.server({ latencyMs: 30 })
    const recipes = Object.fromEntries(
      item.ns.map((n, job) => [`j${job}`, { prompt: prompt(item, job), refs: [job % 2 ? 'refs/b.jpg' : 'refs/a.png'], ...(n > 1 ? { n } : {}) }]),
    )
    const dir = await resources.project({ provider: 'toapis', recipes, settings: { pollIntervalMs: 50, concurrency: item.concurrency } })
    const env = serverEnv(server)
    const where = `${item.point}:${item.nth} (${item.jobs} jobs, n ${item.ns.join('/')}, concurrency ${item.concurrency})`

    // 1. The build dies at the injected point.
    const killed = startCli(['build', '--json'], { cwd: dir, env: { ...env, ...killAt(item.point, item.nth) } })
    const timer = setTimeout(() => killed.kill('SIGKILL'), 45_000)
    const exit = await killed.exited
    clearTimeout(timer)
    const output = `stdout:\n${killed.stdout()}\nstderr:\n${killed.stderr()}`
    expect(exit, `${where}: the build must die by SIGKILL\n${output}`).toEqual({ code: null, signal: 'SIGKILL' })
    // Killed at the point itself, not by the timeout above.
    expect(killed.stderr(), `${where}: the kill must come from kill-at.mjs\n${output}`).toContain(`kill-at: SIGKILL at ${KILL_AT[item.point].on} `)
    figures.kills++

    // Let requests the dead process left behind settle on the server, then see what reached the disk.
    for (let wait = 0; wait < 40 && server.inFlight.overall > 0; wait++) await sleep(25)
    const onDisk = await taskIdsOnDisk(dir)
    const before = server.submissions.map((submission) => ({ prompt: submission.prompt, taskId: submission.taskId }))
    const lost = new Map<number, number>()
    for (let job = 0; job < item.jobs; job++) {
      const mine = before.filter((submission) => submission.prompt === prompt(item, job))
      expect(mine.length, `${where}: j${job} submitted at most once before the kill`).toBeLessThanOrEqual(1)
      const notOnDisk = mine.filter((submission) => !submission.taskId || !onDisk.has(submission.taskId)).length
      lost.set(job, notOnDisk)
      figures.journaledBeforeKill += mine.length - notOnDisk
    }
    if (item.concurrency === 1) {
      expect(
        [...lost.values()].reduce((sum, count) => sum + count, 0),
        `${where}: with concurrency 1 no accepted submit may be lost`,
      ).toBe(0)
    }
    // A crash after the journal write: the job that crashed has its task id on disk.
    if (item.point !== 'after-upload') expect(onDisk.size, `${where}: some task id reached the disk`).toBeGreaterThan(0)

    // 2. A plain rerun completes everything.
    const rerun = await runCli(['build'], { cwd: dir, env })
    figures.reruns++
    expect(rerun.code, `${where}: rerun\nstdout:\n${rerun.stdout}\nstderr:\n${rerun.stderr}`).toBe(0)

    // Outputs and lock.
    const ids = item.ns.flatMap((_, job) => [`j${job}`])
    const { problems: lockIssues, lock } = await lockProblems(dir, { jobs: ids, size: { width: 1024, height: 1024, format: 'png' } })
    expect(lockIssues, where).toEqual([])
    for (const [job, n] of item.ns.entries()) expect(lock?.jobs[`j${job}`]?.outputs, `${where}: j${job} outputs`).toHaveLength(n)

    // Store.
    const store = await storeProblems(dir)
    expect(store.problems, where).toEqual([])
    expect(store.records, `${where}: one record per job`).toBe(item.jobs)

    // Paid exactly once, except a submit that was accepted but never reached the disk.
    for (let job = 0; job < item.jobs; job++) {
      const total = server.submits(prompt(item, job))
      expect(total, `${where}: submits of j${job} (lost in flight before the kill: ${lost.get(job)})`).toBe(1 + (lost.get(job) ?? 0))
      figures.submits += total
      figures.lostInFlight += lost.get(job) ?? 0
    }
    figures.jobs += item.jobs

    // Nothing left half-done.
    expect(await journalFiles(dir), `${where}: journal`).toEqual([])
    expect(await temporaryFiles(dir), `${where}: temporary files`).toEqual([])
    figures.trials++
  } finally {
    await resources.release()
  }
}

describe.concurrent('kill -9 at every injected point, then rerun', () => {
  for (const point of POINTS) {
    for (let trial = 0; trial < TRIALS; trial++) {
      const item = trialOf(point, trial)
      it(`${point}:${item.nth} — ${item.jobs} job(s), n ${item.ns.join('/')}, concurrency ${item.concurrency}`, async ({ expect }) => {
        await withSlot(() => runTrial(expect, item))
      })
    }
  }
})

describe('temporary files of a writer killed mid-write', () => {
  it('are swept by the next build from every folder images-edit writes to: store, records, objects, journal, the lock’s folder and out', async ({ expect }) => {
    const resources = new Resources()
    try {
      const server = await resources.server({ latencyMs: 30 })
      const dir = await resources.project({
        provider: 'toapis',
        recipes: { one: { prompt: 'sweep one', refs: ['refs/a.png'] } },
        settings: { pollIntervalMs: 50 },
      })
      const env = serverEnv(server)
      expect((await runCli(['build'], { cwd: dir, env })).code).toBe(0)
      // The pid of a process that has exited: its temporary files are leftovers of a dead writer.
      const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
      const pid = child.pid
      await new Promise((done) => child.on('exit', done))
      const leftover = (name: string) => `.images-edit-tmp-${name}-${pid}-0badf00d`
      const planted = [
        join('.images-edit', leftover('uploads.json')),
        join('.images-edit/records', leftover(`${'a'.repeat(64)}.json`)),
        join('.images-edit/objects/ab', leftover('c'.repeat(62))),
        join('.images-edit/journal', leftover(`${'b'.repeat(64)}-1-0.json`)),
        leftover('images.edit.lock'),
        join('out', leftover('one.png')),
      ]
      await writeFiles(dir, Object.fromEntries(planted.map((path) => [path, 'half a file'])))
      expect((await temporaryFiles(dir)).length).toBe(planted.length)

      const rerun = await runCli(['build'], { cwd: dir, env })
      expect(rerun.code, rerun.stderr).toBe(0)
      expect(await temporaryFiles(dir), 'temporary files left after the build').toEqual([])
    } finally {
      await resources.release()
    }
  })
})

describe('a kill between storing a result and clearing its journal entry', () => {
  it('leaves an entry the next build clears: the task is stored, so it is no longer in flight', async ({ expect }) => {
    const resources = new Resources()
    try {
      const server = await resources.server({ latencyMs: 30 })
      const dir = await resources.project({
        provider: 'toapis',
        recipes: { one: { prompt: 'stale one', refs: ['refs/a.png'] } },
        settings: { pollIntervalMs: 50 },
      })
      const env = serverEnv(server)
      expect((await runCli(['build'], { cwd: dir, env })).code).toBe(0)
      // The state a kill -9 leaves between the record write and the journal delete (run-jobs.ts generate()).
      const key = (await readLockFile(dir)).jobs.one?.key
      const taskId = server.submissions[0]?.taskId
      const entry = {
        key,
        take: 1,
        firstIndex: 0,
        count: 1,
        provider: 'toapis',
        model: 'gpt-image-1.5-official',
        taskId,
        submittedAt: new Date().toISOString(),
      }
      await writeFiles(dir, { [`.images-edit/journal/${key}-1-0.json`]: `${JSON.stringify(entry, null, 2)}\n` })
      expect((await storeProblems(dir)).taskIds).toContain(taskId)

      const rerun = await runCli(['build'], { cwd: dir, env })
      expect(rerun.code, rerun.stderr).toBe(0)
      expect(server.submits()).toBe(1)
      // Otherwise every later Ctrl-C (main.ts) and `watch` stop reports this finished task as still in flight.
      expect(await journalFiles(dir), 'journal entries of tasks whose images are stored').toEqual([])
    } finally {
      await resources.release()
    }
  })
})
