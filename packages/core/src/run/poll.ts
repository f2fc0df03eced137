import { setTimeout as sleep } from 'node:timers/promises'
import { ImagesEditError } from '../errors.js'
import { ProviderError } from '../providers/http.js'
import { POLL_DEFAULTS } from '../providers/poll-defaults.js'
import type { EditContext, ImageEditProvider, TaskStatus } from '../providers/provider.js'
import type { JournalEntry } from '../store/journal.js'
import type { ProviderGate, ProviderLimits } from './gates.js'
import type { JournalWriter } from './journal-writer.js'
import type { TaskLatencies } from './latency.js'
import { FREE_RETRIES, withRetries } from './retry.js'
import type { JobSlots } from './slots.js'

/**
 * Longest a task may report a status images-edit does not know before polling stops (its id stays
 * journaled); shorter with a short poll interval (20 intervals, at least 1 s).
 */
export const UNKNOWN_STATUS_LIMIT_MS = 120_000

/** A task that ended, one way or the other. */
export type EndedTask = Extract<TaskStatus, { state: 'completed' | 'failed' }>

/** What polling one task needs besides the provider and its entry. */
export interface PollOptions {
  /** The free context: signal and progress. */
  context: EditContext
  gate: ProviderGate
  onRetry: (info: { attempt: number; delayMs: number; error: unknown }) => void
  journal: JournalWriter
  /** The job's slots, given back while a refused poll waits once the task is probably done; absent when none are held. */
  slots?: JobSlots
}

/**
 * Polls until the task ends. The first poll of a task submitted just now aims at the latency this
 * process has seen for its model ({@link TaskLatencies}; the configured interval until then); a
 * resumed one is polled at once. Later ones follow the reported progress (time left ≈ elapsed ×
 * remaining / done), never later than when tasks running this long were seen done, with jitter so
 * many tasks spread out, and always through the provider's status-rate gate. A journal entry that
 * could not be written is retried at every poll.
 */
export async function waitForTask(provider: ImageEditProvider, entry: JournalEntry, options: PollOptions): Promise<EndedTask> {
  const { context, gate, journal } = options
  const { taskId, model } = entry
  const limits = gate.limits
  const pollInterval = limits.pollIntervalMs ?? POLL_DEFAULTS.pollIntervalMs
  const maxInterval = limits.maxPollIntervalMs ?? POLL_DEFAULTS.maxPollIntervalMs
  const submittedAt = Date.parse(entry.submittedAt)
  const start = Number.isFinite(submittedAt) ? submittedAt : Date.now()
  const aim = gate.latency.firstPoll(model, pollInterval)
  // Only tasks submitted just now teach the aim: a resumed task's age says nothing of its latency.
  const fresh = Date.now() - start < aim
  let delay = Math.max(0, aim - (Date.now() - start))
  const poll = provider.poll?.bind(provider)
  if (!poll) throw new ImagesEditError('INTERNAL', 'poll missing', { userFacing: false })
  const watch: PollWatch = { provider, taskId, limits, start, polledFrom: Date.now() }
  for (let first = true; ; first = false) {
    // Jitter only forward (an early poll is a wasted request), and little on the first poll, which
    // is aimed at the expected latency; later ones spread more so many tasks do not poll together.
    await sleep(delay * (1 + Math.random() * (first ? 0.05 : 0.2)), undefined, { signal: context.signal }).catch(() => {
      throw new ImagesEditError('ABORTED', 'interrupted')
    })
    await journal.flush()
    const status = await withRetries(() => gate.status(() => poll(taskId, context)), FREE_RETRIES, {
      signal: context.signal,
      onRetry: options.onRetry,
      wait: (ms) => waitOutRefusal(ms, watch, model, options),
    })
    const ended = status.state === 'completed' || status.state === 'failed'
    if (fresh && first) gate.latency.firstPolled(model, aim, ended)
    if (ended) {
      if (fresh && status.state === 'completed') gate.latency.completed(model, Date.now() - start)
      return status
    }
    context.onProgress({ stage: status.state, taskId, ...(status.percent !== undefined ? { percent: status.percent } : {}) })
    const elapsed = Date.now() - start
    checkStillWaiting(watch, status)
    const percent = status.percent ?? 0
    if (percent > 0 && percent < 100) watch.doneBy = start + (elapsed * 100) / percent
    delay = percent > 0 && percent < 100 ? (elapsed * (100 - percent)) / percent : Math.max(delay * 1.5, 1_000)
    // Tasks that ran this long were seen done by then: no need to wait for the progress estimate.
    const seen = gate.latency.doneAfter(model, elapsed)
    if (seen !== undefined) delay = Math.min(delay, Math.max(seen - elapsed, 50))
    delay = Math.min(Math.max(delay, 50), maxInterval)
  }
}

/**
 * A refused poll's wait. The task may still be running, and a running task counts against the
 * provider's cap, so the job keeps its slots until the task is probably done — by its reported
 * progress, else by the longest latency seen for its model — and gives them back for the rest of
 * the wait. Before anything is known it keeps them.
 */
async function waitOutRefusal(ms: number, watch: PollWatch, model: string, options: PollOptions): Promise<void> {
  const { slots, context, gate } = options
  const longest = gate.latency.longest(model)
  const doneBy = watch.doneBy ?? (longest !== undefined ? watch.start + longest : undefined)
  if (!slots?.held || doneBy === undefined) {
    await sleep(ms, undefined, { signal: context.signal }).catch(() => {
      throw new ImagesEditError('ABORTED', 'interrupted')
    })
    return
  }
  await slots.waitOut(ms, context.signal, doneBy - Date.now())
}

/** What polling one task has seen so far. */
interface PollWatch {
  provider: ImageEditProvider
  taskId: string
  limits: ProviderLimits
  start: number
  polledFrom: number
  unknownSince?: number
  /** When the reported progress says the task should be done (ms since the epoch). */
  doneBy?: number
}

/** Throws when a task has reported an unknown status, or been running, for too long. */
function checkStillWaiting(watch: PollWatch, status: Exclude<TaskStatus, EndedTask>): void {
  const { provider, taskId, limits } = watch
  const timeout = limits.taskTimeoutMs ?? POLL_DEFAULTS.taskTimeoutMs
  const now = Date.now()
  const elapsed = now - watch.start
  const unknown = (status as { unknownStatus?: string }).unknownStatus
  watch.unknownSince = unknown === undefined ? undefined : (watch.unknownSince ?? now)
  const unknownLimit = Math.min(timeout, UNKNOWN_STATUS_LIMIT_MS, Math.max(20 * (limits.pollIntervalMs ?? POLL_DEFAULTS.pollIntervalMs), 1_000))
  if (unknown !== undefined && watch.unknownSince !== undefined && now - watch.unknownSince >= unknownLimit) {
    throw new ProviderError(
      `${provider.id} task ${taskId} reports the status "${unknown}", which images-edit does not know; stopped polling after ${Math.round((now - watch.unknownSince) / 1000)}s. Its id stays journaled: rerun images-edit build to ask again (not paid again), or check the ${provider.id} console`,
      { provider: provider.id, stage: 'poll', retryable: true },
    )
  }
  // Only this run's own polling counts against the timeout: a resumed old task gets its full time.
  if (elapsed > timeout && now - watch.polledFrom > Math.min(timeout, 60_000)) {
    throw new ProviderError(
      `${provider.id} task ${taskId} is still ${status.state} after ${Math.round(elapsed / 1000)}s; its id is journaled — rerun images-edit build to resume polling it (it will not be paid again)`,
      { provider: provider.id, stage: 'poll', retryable: true },
    )
  }
}
