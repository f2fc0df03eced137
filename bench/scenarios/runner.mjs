// B5–B7: the runner against the fake provider server. 200 jobs with one small unique ref each, 1k
// 1:1 PNG outputs, concurrency 8; every run is a fresh build (store, lock and outputs deleted), so
// every job is really generated. The measured time is the wall time of `images-edit build`, start
// of the process to its exit.
import { join } from 'node:path'
import { startFakeProviderServer } from '@images-edit/fake-provider'
import { benchRuns, cliBin, fakeProviderEnv, scratch, spawnLines, stats, withUsage } from '../lib.mjs'
import { jobName, promptOf, resetProject, writeJobsProject } from './fixtures.mjs'

const core = await import('@images-edit/core')

const JOBS = 200
const CONCURRENCY = 8
const LATENCY_MS = 500
const FLOOR_MS = Math.ceil(JOBS / CONCURRENCY) * LATENCY_MS

/**
 * One fresh build against a new fake server. Returns the CLI's wall time (spawn → exit), its
 * events stamped on arrival, CPU time of the CLI (GNU time) and of this process (the fake server),
 * per-job phase times, and the server (closed) for its logs and counters.
 */
async function buildOnce(dir, serverOptions, prepare, options = {}) {
  await resetProject(dir)
  const server = await startFakeProviderServer(serverOptions)
  const wrapped = await withUsage(process.execPath, [cliBin, 'build', '--json', '--no-frozen'])
  try {
    prepare?.(server)
    const events = []
    const cpuBefore = process.cpuUsage()
    const spawnedAt = Date.now()
    const started = performance.now()
    // Async spawn: the fake server lives in this process and must keep answering.
    const { exited } = spawnLines(wrapped.command, wrapped.args, {
      cwd: dir,
      env: fakeProviderEnv(server),
      onLine: (line) => {
        if (!line.startsWith('{')) return
        try {
          events.push({ ...JSON.parse(line), at: Date.now() })
        } catch {
          // not an event
        }
      },
    })
    const { code, stderr } = await exited
    const ms = performance.now() - started
    const serverCpu = process.cpuUsage(cpuBefore)
    const usage = await wrapped.usage()
    const done = events.filter((event) => event.type === 'job:done')
    const failed = events.filter((event) => event.type === 'job:failed')
    if (!options.allowFailures && (code !== 0 || done.length !== JOBS)) {
      throw new Error(`build exited ${code} with ${done.length}/${JOBS} jobs done; first failure: ${JSON.stringify(failed[0]?.error)}\n${stderr.slice(-2000)}`)
    }
    const requests = server.requests
    const firstRequest = Math.min(...requests.map((entry) => entry.startedAt))
    const span = Math.max(...requests.map((entry) => entry.endedAt ?? 0)) - firstRequest
    const downloads = requests.filter((entry) => entry.route === 'files.download' && entry.endedAt !== undefined)
    return {
      ms,
      code,
      // Server side of a result download: mostly the fake server rendering the 1024² PNG with sharp.
      download: downloads.length ? stats(downloads.map((entry) => entry.endedAt - entry.startedAt)).median : undefined,
      events,
      server,
      span,
      startup: firstRequest - spawnedAt,
      phases: phasesOf(events),
      cliCpuMs: usage ? usage.userMs + usage.sysMs : undefined,
      serverCpuMs: (serverCpu.user + serverCpu.system) / 1000,
    }
  } finally {
    await server.close()
    await wrapped.cleanup()
  }
}

/**
 * Per job: `lane` = job:started → job:done (its slot is held from the start to the end of the
 * download; verify, store and commit follow outside it), `call` =
 * job:started → first `downloading` progress (uploads, submit and polls, or the synchronous call),
 * `finish` = `downloading` → job:done (download, verify, store, outputs, record).
 */
function phasesOf(events) {
  const jobs = new Map()
  for (const event of events) {
    if (!event.id) continue
    const job = jobs.get(event.id) ?? {}
    if (event.type === 'job:started') job.started = event.at
    if (event.type === 'job:progress' && event.stage === 'downloading' && job.downloading === undefined) job.downloading = event.at
    if (event.type === 'job:done') job.done = event.at
    jobs.set(event.id, job)
  }
  const lane = []
  const call = []
  const finish = []
  for (const job of jobs.values()) {
    if (job.started === undefined || job.done === undefined) continue
    lane.push(job.done - job.started)
    if (job.downloading !== undefined) {
      call.push(job.downloading - job.started)
      finish.push(job.done - job.downloading)
    }
  }
  return { lane: stats(lane).median, call: stats(call).median, finish: stats(finish).median }
}

/** Medians over runs of the per-run figures, as a note. */
function describeRuns(runs) {
  const median = (pick) => stats(runs.map(pick).filter((value) => value !== undefined)).median
  const cli = median((run) => run.cliCpuMs)
  return [
    `CPU per job: CLI ${cli === undefined || Number.isNaN(cli) ? '?' : (cli / JOBS).toFixed(1)} ms, fake server ${(median((run) => run.serverCpuMs) / JOBS).toFixed(1)} ms`,
    `per job (median): started → done ${median((run) => run.phases.lane).toFixed(0)} ms = call ${median((run) => run.phases.call).toFixed(0)} + download/verify/store/commit ${median((run) => run.phases.finish).toFixed(0)} (of which the fake server's download answer ${median((run) => run.download).toFixed(0)}; the slot goes back after the download)`,
    `CLI spawn → first request ${fmt(median((run) => run.startup))}`,
    `server span ${fmt(median((run) => run.span))}`,
    `CPU: CLI ${cli === undefined || Number.isNaN(cli) ? '?' : fmt(cli)}, fake server ${fmt(median((run) => run.serverCpuMs))}`,
  ].join('; ')
}

const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`

/** B5: synchronous provider (aa: one call that answers after the latency, then a download). */
export async function runnerSync(selected, report) {
  if (!selected('B5')) return
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b5')
  try {
    console.error(`B5: ${JOBS} jobs on aa, concurrency ${CONCURRENCY}, fixed ${LATENCY_MS} ms latency, ${runs} runs…`)
    await writeJobsProject(dir, { jobs: JOBS, provider: 'aa', concurrency: CONCURRENCY })
    const details = []
    for (let run = 0; run < runs; run++) details.push(await buildOnce(dir, { latencyMs: LATENCY_MS, seed: run + 1 }))
    const measured = stats(details.map((run) => run.ms))
    const ratio = measured.median / FLOOR_MS
    const inFlight = details.map((run) => run.server.maxInFlight.byRoute['aa.generate'] ?? 0)
    const exactCap = inFlight.every((value) => value === CONCURRENCY)
    report({
      id: 'B5',
      scenario: `${JOBS} jobs, concurrency ${CONCURRENCY}, sync provider (aa), fixed ${LATENCY_MS} ms`,
      floor: { label: `ceil(${JOBS}/${CONCURRENCY}) × ${LATENCY_MS} ms`, median: FLOOR_MS, min: FLOOR_MS, max: FLOOR_MS, runs: 1 },
      measured,
      ratio,
      target: `≤ 1.05× floor; server max in flight = ${CONCURRENCY}`,
      pass: ratio <= 1.05 && exactCap,
      note: `server max in flight (aa.generate) ${[...new Set(inFlight)].join('/')}; ${describeRuns(details)}`,
    })
  } finally {
    await cleanup()
  }
}

/** B6: the async task provider (toapis: upload, submit, poll, download), first poll at the latency. */
export async function runnerAsync(selected, report) {
  if (!selected('B6')) return
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b6')
  try {
    console.error(`B6: ${JOBS} jobs on toapis, concurrency ${CONCURRENCY}, fixed ${LATENCY_MS} ms latency, ${runs} runs…`)
    // pollIntervalMs = the expected latency: the first poll is due when the task should be done.
    await writeJobsProject(dir, { jobs: JOBS, provider: 'toapis', concurrency: CONCURRENCY, providerSettings: { pollIntervalMs: LATENCY_MS } })
    const details = []
    for (let run = 0; run < runs; run++) details.push(await buildOnce(dir, { latencyMs: LATENCY_MS, seed: run + 1 }))
    const measured = stats(details.map((run) => run.ms))
    const ratio = measured.median / FLOOR_MS
    const polls = stats(details.map((run) => run.server.polls / JOBS))
    const activeTasks = details.map((run) => run.server.maxActiveTasks)
    report({
      id: 'B6',
      scenario: `B5 on the async submit/poll provider (toapis), pollIntervalMs ${LATENCY_MS}`,
      floor: { label: `ceil(${JOBS}/${CONCURRENCY}) × ${LATENCY_MS} ms`, median: FLOOR_MS, min: FLOOR_MS, max: FLOOR_MS, runs: 1 },
      measured,
      ratio,
      target: '≤ 1.10× floor, ≤ 3 polls/job',
      pass: ratio <= 1.1 && polls.median <= 3,
      note: `polls/job ${polls.median.toFixed(2)} (${polls.min.toFixed(2)}–${polls.max.toFixed(2)}); server max active tasks ${[...new Set(activeTasks)].join('/')}; ${describeRuns(details)}`,
    })
  } finally {
    await cleanup()
  }
}

/**
 * B7: B6 with latency uniform 250–750 ms and 5 % of submits and polls answered 429 or 503 with
 * `Retry-After: 1` (2.5 % each; nothing is created for them, so a retried submit must not pay).
 */
export async function runnerFaults(selected, report) {
  if (!selected('B7')) return
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b7')
  try {
    console.error(`B7: ${JOBS} jobs on toapis, latency 250–750 ms, 5 % 429/503 on submit and poll, ${runs} runs…`)
    await writeJobsProject(dir, { jobs: JOBS, provider: 'toapis', concurrency: CONCURRENCY, providerSettings: { pollIntervalMs: LATENCY_MS } })
    const details = []
    const bounds = []
    const ratios = []
    const faultCounts = []
    const waits = []
    let exactlyOnce = true
    const problems = []
    for (let run = 0; run < runs; run++) {
      const detail = await buildOnce(
        dir,
        { latencyMs: { min: 250, max: 750 }, seed: run + 1 },
        (fake) => {
          for (const route of ['toapis.submit', 'toapis.poll']) {
            fake.failEvery(route, 0.025, { kind: 'status', status: 429, retryAfter: 1 })
            fake.failEvery(route, 0.025, { kind: 'status', status: 503, retryAfter: 1 })
          }
        },
        { allowFailures: true },
      )
      const { server, events } = detail
      details.push(detail)
      // Lower bound from the server's log: every accepted task runs on the server for its sampled
      // latency (finishesAt − createdAt) while its job holds one of the 8 slots, and at most 8
      // jobs are in flight, so no schedule finishes before Σ task time / 8 — nor before the
      // longest single task. Retry-After waits and everything else the client does are left out:
      // the bound is what a perfect 8-lane scheduler with zero overhead would need.
      const durations = server.tasks().map((task) => task.finishesAt - task.createdAt)
      const total = durations.reduce((sum, value) => sum + value, 0)
      const bound = Math.max(total / CONCURRENCY, ...durations)
      bounds.push(bound)
      ratios.push(detail.ms / bound)
      const faulted = server.requests.filter((entry) => entry.fault === 'status').length
      faultCounts.push(faulted)
      // Each faulted request made its job wait Retry-After (1 s): spread over 8 slots, that is what
      // the faults would add to a runner that held its slot while waiting (this one gives it back).
      waits.push((faulted * 1000) / CONCURRENCY)

      // Every job committed exactly once: one accepted (paid) submission per prompt, one
      // job:done per job, none failed, and the lock lists each job once.
      const byPrompt = server.submitsByPrompt()
      const done = new Map()
      for (const event of events) if (event.type === 'job:done') done.set(event.id, (done.get(event.id) ?? 0) + 1)
      const lock = await core.readLock(join(dir, 'images.edit.lock')).catch(() => ({ jobs: {} }))
      const lockJobs = Object.keys(lock.jobs ?? {})
      for (let index = 0; index < JOBS; index++) {
        const paid = byPrompt.get(promptOf(index)) ?? 0
        const committed = done.get(jobName(index)) ?? 0
        if (paid !== 1 || committed !== 1) {
          exactlyOnce = false
          problems.push(`${jobName(index)}: paid ${paid}, committed ${committed}`)
        }
      }
      for (const event of events) if (event.type === 'job:failed') problems.push(`${event.id} failed: ${event.error?.code} ${event.error?.message}`)
      if (server.submits() !== JOBS || lockJobs.length !== JOBS || detail.code !== 0) {
        exactlyOnce = false
        problems.push(`run ${run + 1}: exit ${detail.code}, ${server.submits()} paid submissions, ${lockJobs.length} jobs in the lock`)
      }
    }
    const measured = stats(details.map((run) => run.ms))
    const floor = stats(bounds)
    const ratio = stats(ratios).median
    report({
      id: 'B7',
      scenario: 'B6 with latency 250–750 ms and 5 % 429/503 (Retry-After: 1) on submit and poll',
      floor: { label: 'Σ task latency / 8 (server log)', ...floor },
      measured,
      ratio,
      target: '≤ 1.15× bound, every job committed exactly once',
      pass: ratio <= 1.15 && exactlyOnce,
      note: `ratio = median of per-run wall/bound; polls/job ${stats(details.map((run) => run.server.polls / JOBS)).median.toFixed(2)}; ${stats(faultCounts).median} faulted requests per run (Retry-After waits / 8 = ${fmt(stats(waits).median)}); exactly once: ${exactlyOnce ? 'yes' : `NO (${problems.slice(0, 4).join('; ')})`}; ${describeRuns(details)}`,
    })
  } finally {
    await cleanup()
  }
}
