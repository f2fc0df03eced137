// The generate stage: the runner as a stage that yields finished jobs, each committed as it arrives; then paid tasks of earlier runs are collected.
import { imageEstimator } from '../cost/estimate.js'
import { priceTable } from '../cost/prices.js'
import { ImagesEditError } from '../errors.js'
import type { PlannedJob } from '../plan/plan.js'
import type { ProviderId } from '../providers/provider.js'
import type { ProviderRegistry } from '../providers/registry.js'
import { toJobError } from '../run/billing.js'
import { collectJournaled, type GeneratedJob, type JobOutcome, type ProviderLimits, type RunnerContext, runJobs } from '../run/run-jobs.js'
import { commitJob } from './commit.js'
import { ingest } from './restore.js'
import type { BuildRun } from './types.js'

/** The runner's context for one build: the workspace's store, journal and locks, caps shared with the project's other runs, and the build's signals. */
export function runnerFor(run: BuildRun, providers: ProviderRegistry, concurrency: number, signal: AbortSignal): RunnerContext {
  const { workspace, options } = run
  const limits = (id: ProviderId): ProviderLimits => {
    const config = providers.config(id)
    return {
      ...(config?.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
      ...(config?.requestsPerMinute !== undefined ? { requestsPerMinute: config.requestsPerMinute } : {}),
      ...(config ? { pollIntervalMs: config.pollIntervalMs, taskTimeoutMs: config.taskTimeoutMs } : {}),
    }
  }
  return {
    store: workspace.store,
    provider: (id) => providers.get(id),
    gates: workspace.runnerGates(concurrency, limits),
    keepGoing: options.keepGoing ?? true,
    signal,
    ...(options.abandon ? { abandon: options.abandon } : {}),
    redact: run.redact,
    emit: run.emit,
    journal: workspace.journal,
    keyLocks: workspace.keyLocks,
    uploads: workspace.uploads,
    estimate: imageEstimator(priceTable(run.result.loaded.manifest)),
  }
}

/**
 * Generates the jobs: each is ingested (a partial take kept as output files goes back into the
 * store), then run by the runner; every job it yields (its images stored and verified) is
 * committed as soon as it arrives, then reported `job:done`. Returns the outcome of every job.
 * A dev session's `isCurrent` keeps a result whose recipe changed meanwhile out of outputs and lock.
 * With `keepGoing` off, a failed ingest starts nothing, and a failed commit stops the run.
 */
export async function generate(run: BuildRun, jobs: readonly PlannedJob[], runner: RunnerContext): Promise<Map<string, JobOutcome>> {
  const { options, emit } = run
  const failures = new Map<string, JobOutcome>()
  const fail = (planned: PlannedJob, error: unknown, startedAt: number): void => {
    const jobError = run.redact(toJobError(error, { either: runner.signal }))
    failures.set(planned.job.id, { ok: false, error: jobError })
    emit({ type: 'job:failed', id: planned.job.id, provider: planned.job.provider, error: jobError, elapsedMs: Date.now() - startedAt })
  }
  const runnable = await ingestAll(run, jobs, runner, fail)
  const handle = runJobs(runnable, runner)
  const commit = async ({ planned, images, startedAt, settle }: GeneratedJob) => {
    const { job } = planned
    try {
      // Its images are stored: queued for the team store at once, so a later crash cannot leave a paid result only here.
      await run.workspace.remote?.queue([job.key])
      if (!options.isCurrent || options.isCurrent(job.id, job.key)) await commitJob(run, planned, images)
      emit({ type: 'job:done', id: job.id, provider: job.provider, outputs: job.outputs, newImages: planned.newImages, elapsedMs: Date.now() - startedAt })
    } catch (error) {
      if (!runner.keepGoing) handle.stop(new ImagesEditError('ABORTED', STOPPED))
      fail(planned, error, startedAt)
    } finally {
      settle()
    }
  }
  // Commits run as jobs arrive: one slow write does not hold back the others (the ledger batches).
  const commits: Promise<unknown>[] = []
  let thrown: { error: unknown } | undefined
  try {
    for await (const generated of handle) commits.push(commit(generated).catch((error: unknown) => (thrown ??= { error })))
  } finally {
    // Even when the run ends with an error, every job it finished is committed before the lock is written.
    await Promise.all(commits)
  }
  if (thrown) throw thrown.error
  const outcomes = new Map(handle.outcomes())
  for (const [id, outcome] of failures) outcomes.set(id, outcome)
  return outcomes
}

const STOPPED = 'stopped after a failure (--no-keep-going)'

/**
 * Ingests every job before any runs, and returns the ones that may run. Stopped (Ctrl-C), the
 * rest are not started; with `keepGoing` off, one failure leaves every job not started.
 */
async function ingestAll(
  run: BuildRun,
  jobs: readonly PlannedJob[],
  runner: RunnerContext,
  fail: (planned: PlannedJob, error: unknown, startedAt: number) => void,
): Promise<PlannedJob[]> {
  const runnable: PlannedJob[] = []
  let stopped = false
  for (const planned of jobs) {
    const startedAt = Date.now()
    if (stopped || runner.signal.aborted) {
      const reason = stopped ? STOPPED : 'not started: the run was interrupted'
      fail(planned, new ImagesEditError('ABORTED', reason), startedAt)
      continue
    }
    try {
      await ingest(run.workspace, planned)
      runnable.push(planned)
    } catch (error) {
      fail(planned, error, startedAt)
      stopped = !runner.keepGoing
    }
  }
  if (!stopped) return runnable
  for (const planned of runnable) fail(planned, new ImagesEditError('ABORTED', STOPPED), Date.now())
  return []
}

/**
 * Paid tasks of earlier runs that no job here asked for (the recipe changed since) are collected
 * into the store, not left behind. A full, unfiltered build only: `only` and dev sessions touch
 * what they were asked to.
 */
export async function collectLeftovers(run: BuildRun, generating: readonly PlannedJob[], runner: RunnerContext): Promise<void> {
  if (runner.signal.aborted || (run.options.only?.length ?? 0) > 0) return
  const building = new Set(generating.map((item) => item.job.key))
  const leftover = (await run.workspace.journal.list()).filter((entry) => !building.has(entry.key) && !entry.uncollectable)
  if (leftover.length === 0) return
  await collectJournaled(leftover, runner)
  await run.workspace.remote?.queue([...new Set(leftover.map((entry) => entry.key))])
}

/** Sorts the generated jobs into done, not started (interrupted before they began) and failed. */
export function tally(run: BuildRun, generating: readonly PlannedJob[], outcomes: ReadonlyMap<string, JobOutcome>): void {
  const { result } = run
  for (const item of generating) {
    const outcome = outcomes.get(item.job.id)
    if (outcome?.ok) result.done.push(item.job.id)
    else if (outcome?.error.code === 'ABORTED' && !outcome.error.billed) result.notStarted.push(item.job.id)
    else result.failed.push({ id: item.job.id, error: run.redact(outcome?.error ?? { code: 'INTERNAL', message: 'no outcome' }) })
  }
  const generated = new Set(result.done)
  result.newImages = generating.reduce((sum, item) => sum + (generated.has(item.job.id) ? item.newImages : 0), 0)
}
