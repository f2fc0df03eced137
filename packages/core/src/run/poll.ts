import { setTimeout as sleep } from 'node:timers/promises'
import { ImagesEditError } from '../errors.js'
import { ProviderError } from '../providers/http.js'
import { POLL_DEFAULTS } from '../providers/poll-defaults.js'
import type { EditContext, ImageEditProvider, TaskStatus } from '../providers/provider.js'
import type { JournalEntry } from '../store/journal.js'
import type { ProviderGate, ProviderLimits } from './gates.js'
import type { JournalWriter } from './journal-writer.js'
import { FREE_RETRIES, withRetries } from './retry.js'

/**
 * Longest a task may report a status images-edit does not know before polling stops (its id stays
 * journaled); shorter with a short poll interval (20 intervals, at least 1 s).
 */
export const UNKNOWN_STATUS_LIMIT_MS = 120_000

/** A task that ended, one way or the other. */
export type EndedTask = Extract<TaskStatus, { state: 'completed' | 'failed' }>

/**
 * Polls until the task ends. The first poll comes near the expected latency; later ones follow
 * the reported progress (time left ≈ elapsed × remaining / done), with jitter so many tasks
 * spread out, and always through the provider's status-rate gate. A journal entry that could not
 * be written is retried at every poll.
 */
export async function waitForTask(
  provider: ImageEditProvider,
  entry: JournalEntry,
  context: EditContext,
  gate: ProviderGate,
  onRetry: (info: { attempt: number; delayMs: number; error: unknown }) => void,
  journal: JournalWriter,
): Promise<EndedTask> {
  const { taskId } = entry
  const limits = gate.limits
  const pollInterval = limits.pollIntervalMs ?? POLL_DEFAULTS.pollIntervalMs
  const maxInterval = limits.maxPollIntervalMs ?? POLL_DEFAULTS.maxPollIntervalMs
  const submittedAt = Date.parse(entry.submittedAt)
  const start = Number.isFinite(submittedAt) ? submittedAt : Date.now()
  let delay = Math.max(0, pollInterval - (Date.now() - start))
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
    const status = await withRetries(() => gate.status(() => poll(taskId, context)), FREE_RETRIES, { signal: context.signal, onRetry })
    if (status.state === 'completed' || status.state === 'failed') return status
    context.onProgress({ stage: status.state, taskId, ...(status.percent !== undefined ? { percent: status.percent } : {}) })
    const elapsed = Date.now() - start
    checkStillWaiting(watch, status)
    const percent = status.percent ?? 0
    delay = percent > 0 && percent < 100 ? (elapsed * (100 - percent)) / percent : Math.max(delay * 1.5, 1_000)
    delay = Math.min(Math.max(delay, 250), maxInterval)
  }
}

/** What polling one task has seen so far. */
interface PollWatch {
  provider: ImageEditProvider
  taskId: string
  limits: ProviderLimits
  start: number
  polledFrom: number
  unknownSince?: number
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
