// What a toapis task answer means: the status table, status normalisation and the result URLs.
import type { TaskStatus } from './provider.js'

/** What a toapis status means. */
type StatusClass = 'queued' | 'running' | 'completed' | 'failed'

/**
 * Every toapis status images-edit knows, in one table (providers.md §1.4 and its 2026-12 check):
 * the documented `queued`/`in_progress`/`completed`/`failed`, `submitted` and `pending`, and the
 * spellings third-party clients and gateways answer with. A failed status is final: the service
 * will not finish that task, and a resubmit is a new paid call the user decides on.
 */
export const TOAPIS_STATUSES: Readonly<Record<string, StatusClass>> = {
  queued: 'queued',
  pending: 'queued',
  submitted: 'queued',
  in_progress: 'running',
  processing: 'running',
  running: 'running',
  completed: 'completed',
  succeeded: 'completed',
  success: 'completed',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  cancelled: 'failed',
  canceled: 'failed',
  expired: 'failed',
  timeout: 'failed',
}

/**
 * Status normalisation from {@link TOAPIS_STATUSES}. A status outside the table is reported as
 * `running` with `unknownStatus` set, so the runner can end the task after a bounded time.
 */
export function normalizeTask(body: unknown): TaskStatus {
  const task = (body ?? {}) as Record<string, unknown>
  const raw = typeof task.status === 'string' ? task.status.trim() : ''
  const status = raw.toLowerCase().replace(/[\s-]+/g, '_')
  const percent = typeof task.progress === 'number' && Number.isFinite(task.progress) ? Math.max(0, Math.min(100, task.progress)) : undefined
  const progress = percent !== undefined ? { percent } : {}
  const kind = Object.hasOwn(TOAPIS_STATUSES, status) ? TOAPIS_STATUSES[status] : undefined
  switch (kind) {
    case 'completed': {
      const urls = resultUrls(task)
      if (urls.length === 0) return { state: 'failed', code: 'no_result', message: `the task reported ${raw} without any result URL`, final: false }
      return { state: 'completed', urls, ...(typeof task.revised_prompt === 'string' ? { revisedPrompt: task.revised_prompt } : {}) }
    }
    case 'failed':
      return failedTask(task, status)
    case 'queued':
      return { state: 'queued', ...progress }
    case 'running':
      return { state: 'running', ...progress }
    default:
      return { state: 'running', ...progress, unknownStatus: raw === '' ? '(no status)' : raw.slice(0, 80) }
  }
}

/** A task that ended without a result: its error code (or the status itself) and message. */
function failedTask(task: Record<string, unknown>, status: string): TaskStatus {
  const error = (task.error ?? {}) as { code?: unknown; message?: unknown }
  const code = error.code !== undefined && error.code !== null && error.code !== '' ? String(error.code) : status
  const message =
    typeof error.message === 'string'
      ? error.message
      : typeof task.fail_reason === 'string'
        ? task.fail_reason
        : status === 'failed'
          ? 'the task failed'
          : `the task ended with status ${status}`
  return { state: 'failed', code, message, final: true }
}

/**
 * Every result URL the answer carries, from each documented place in order — `result.data[].url`,
 * the top-level `url`, then the `data`, `output` and `images` lists third-party clients read —
 * without duplicates (providers.md §1.4). The runner takes at most as many as were asked for.
 */
export function resultUrls(task: Record<string, unknown>): string[] {
  const fromList = (list: unknown) =>
    Array.isArray(list)
      ? list.map((item) => (typeof item === 'string' ? item : (item as { url?: unknown })?.url)).filter((url): url is string => typeof url === 'string')
      : []
  const result = task.result as { data?: unknown } | undefined
  const all = [
    ...fromList(result?.data),
    ...(typeof task.url === 'string' ? [task.url] : []),
    ...fromList(task.data),
    ...fromList(task.output),
    ...fromList(task.images),
  ]
  return [...new Set(all.map((url) => url.trim()).filter((url) => url !== ''))]
}
