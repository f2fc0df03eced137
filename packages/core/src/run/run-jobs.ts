import { ImagesEditError } from '../errors.js'
import type { PlannedJob } from '../plan/plan.js'
import type { ImageRecord } from '../store/store.js'
import { toJobError } from './billing.js'
import { createRunState, type GeneratedJob, type JobOutcome, type JobScope, type RunHandle, type RunnerContext, type RunState } from './context.js'
import { generate } from './generate.js'
import { JournalWriter } from './journal-writer.js'
import { JobSlots } from './slots.js'

export { DEFAULT_RESULT_LIFETIME_MS } from './collect.js'
export { collectJournaled } from './collect-journaled.js'
export type { GeneratedJob, JobOutcome, RunHandle, RunnerContext } from './context.js'
export { createRunnerGates, type ProviderGate, type ProviderLimits, type RunnerGates } from './gates.js'
export { UNKNOWN_STATUS_LIMIT_MS } from './poll.js'
export { MAX_RESULT_BYTES } from './verify.js'

/**
 * Runs the `generate` jobs of a plan. Global and per-provider concurrency; per-provider request
 * rates; one key at a time across processes (a job whose key is being made elsewhere waits and
 * then uses that result); n split into requests of at most the provider's maximum; free calls
 * retried, paid calls only when surely not accepted (waiting out `Retry-After` without holding a
 * slot); task ids journaled the moment they exist; every result decoded and stored before the
 * record that names it. One failing job never stops the others unless `keepGoing` is off.
 *
 * Work starts at once; each job is yielded as soon as its images are stored, and kept until the
 * caller takes it. It gives its provider slot back once the download ends (see `runJob` for the
 * exception), and keeps its key's lock until the caller settles it; a failed commit can stop the
 * run before any further paid call is sent. Iteration ends once every job has finished.
 *
 * Stopping (`signal`) starts nothing new but lets paid calls already sent be answered, so their
 * task ids are journaled and their results kept; `abandon` gives up on those too.
 */
export function runJobs(jobs: readonly PlannedJob[], context: RunnerContext): RunHandle {
  const outcomes = new Map<string, JobOutcome>()
  const ready = new Finished<GeneratedJob>()
  const keepGoingStop = new AbortController()
  const run = createRunState(AbortSignal.any([context.signal, keepGoingStop.signal]), context)
  const onStop = () => {
    if (run.inFlight.size > 0) context.emit({ type: 'run:stopping', inFlight: [...run.inFlight.values()] })
  }
  context.signal.addEventListener('abort', onStop, { once: true })
  for (const planned of jobs) {
    context.emit({ type: 'job:queued', id: planned.job.id, provider: planned.job.provider, newImages: planned.newImages, reasons: planned.reasons })
  }
  const runOne = async (planned: PlannedJob) => {
    const { job } = planned
    const startedAt = Date.now()
    const deliver = (images: ImageRecord[]) => {
      outcomes.set(job.id, { ok: true, images })
      return new Promise<void>((settle) => ready.push({ planned, images, startedAt, settle }))
    }
    try {
      await runJob(planned, context, run, deliver)
    } catch (error) {
      const jobError = toJobError(error, run)
      outcomes.set(job.id, { ok: false, error: jobError })
      context.emit({ type: 'job:failed', id: job.id, provider: job.provider, error: jobError, elapsedMs: Date.now() - startedAt })
      if (!context.keepGoing && jobError.code !== 'ABORTED') keepGoingStop.abort(new ImagesEditError('ABORTED', 'stopped after a failure (--no-keep-going)'))
    }
  }
  // Every job runs to its end even when one throws (an event listener that throws): iteration then
  // ends, and the first such error reaches the caller once all are done, never as an unhandled rejection.
  const all = Promise.allSettled(jobs.map(runOne)).then((settled) => {
    context.signal.removeEventListener('abort', onStop)
    for (const planned of jobs)
      if (!outcomes.has(planned.job.id)) outcomes.set(planned.job.id, { ok: false, error: { code: 'INTERNAL', message: 'no outcome' } })
    ready.close()
    const thrown = settled.find((item) => item.status === 'rejected')
    if (thrown) throw thrown.reason
  })
  all.catch(() => {})
  return {
    [Symbol.asyncIterator]: () => ready.take(all),
    outcomes: () => outcomes,
    stop: (reason) => keepGoingStop.abort(reason),
  }
}

/**
 * One job, start to committed images. It is admitted first (its provider's `admit` limit), then
 * takes its key's lock, which it keeps until the caller has settled it: no two runs pay for one
 * key. Inside, it holds the provider and global slots only while the provider works for it; its
 * results are verified, stored and committed under the runner's own `finish` limit. Nothing that
 * holds a slot ever waits for a key's lock, so a job of the same key waiting for the lock cannot
 * keep the holder from getting a slot back.
 */
async function runJob(planned: PlannedJob, context: RunnerContext, run: RunState, deliver: JobScope['deliver']): Promise<ImageRecord[]> {
  const { job } = planned
  const gate = context.gates.provider(job.provider)
  const scope: JobScope = {
    planned,
    context,
    provider: context.provider(job.provider),
    gate,
    run,
    attempts: { paid: 0 },
    journal: new JournalWriter(context.journal, job.id, context.emit),
    slots: new JobSlots(gate.limit, context.gates.global),
    // With one job at a time on its provider, a job keeps its slots until it is committed: then a
    // paid call is never in flight while anything else happens, so a crash (kill -9, power loss)
    // while an output is written cannot lose the next job's accepted task before it is journaled,
    // and a failed commit under --no-keep-going stops the run before the next job is paid for.
    // With more, other jobs' paid calls overlap every step anyway, so the slots go back when the
    // download ends: writing is local work, and the provider's cap is about the provider.
    holdSlots: Math.min(context.gates.concurrency, gate.limit.concurrency) === 1,
    deliver,
  }
  if (run.stop.aborted) throw new ImagesEditError('ABORTED', 'not started: the run was interrupted')
  return gate.admit(() =>
    context.keyLocks.with(
      job.key,
      run.either,
      async () => {
        try {
          const images = await generate(scope)
          // Held still only when the take was complete already (made meanwhile by someone else).
          if (!scope.holdSlots) scope.slots.give()
          await context.gates.finish(() => scope.deliver(images))
          return images
        } finally {
          scope.slots.give()
        }
      },
      () =>
        context.emit({ type: 'job:progress', id: job.id, stage: 'waiting', note: 'another images-edit process is making this job; waiting for its result' }),
    ),
  )
}

/** Finished items, kept until a consumer takes them. */
class Finished<T> {
  private readonly items: T[] = []
  private closed = false
  private wake: (() => void) | undefined

  push(item: T): void {
    this.items.push(item)
    this.notify()
  }

  /** No more items will come. */
  close(): void {
    this.closed = true
    this.notify()
  }

  /** Yields every item, in order of finishing, until closed and none is left. */
  async *take(all: Promise<unknown>): AsyncGenerator<T> {
    try {
      for (;;) {
        const next = this.items.shift()
        if (next !== undefined) yield next
        else if (this.closed) return
        else
          await new Promise<void>((resolve) => {
            this.wake = resolve
          })
      }
    } finally {
      // A consumer that leaves early still waits for the run: iteration ends when every job has.
      await all
    }
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
