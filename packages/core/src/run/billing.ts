import { ImagesEditError } from '../errors.js'
import { fsError, isFsError } from '../fs/project-fs.js'
import { ProviderError } from '../providers/http.js'
import type { RunState } from './context.js'
import type { JobError } from './events.js'

/** Paid-call facts attached to an error on its way to the job's outcome. */
export interface BillingFacts {
  billed: 'yes' | 'maybe'
  taskId?: string
}

const billing = new WeakMap<object, BillingFacts>()

/** Attaches paid-call facts to an error (returned as is, for `throw markBilled(…)`). */
export function markBilled<E>(error: E, billed: 'yes' | 'maybe', taskId?: string): E {
  if (error && typeof error === 'object') billing.set(error, { billed, ...(taskId ? { taskId } : {}) })
  return error
}

/** The paid-call facts attached to an error, if any. */
export function billingOf(error: unknown): BillingFacts | undefined {
  return error && typeof error === 'object' ? billing.get(error) : undefined
}

/**
 * A paid call that failed after it may have reached the service (reset, timeout, 5xx, garbled
 * answer) is not repeated — and the user should know a rerun might pay twice.
 */
export function mayHaveBeenBilled(error: unknown): unknown {
  if (!(error instanceof ProviderError) || error.notAccepted || !(error.stage === 'submit' || error.stage === 'generate')) return error
  if (!error.retryable && error.status !== undefined && error.status < 500) return error
  return markBilled(
    new ProviderError(`${error.message} — the request may have reached ${error.provider} and been billed; check its console before building this job again`, {
      provider: error.provider,
      stage: error.stage,
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(error.providerCode !== undefined ? { providerCode: error.providerCode } : {}),
      ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
    }),
    'maybe',
  )
}

/** A job's failure as events carry it, with its paid-call facts; `run.either` says whether the run was stopped (the failure is then `ABORTED`). */
export function toJobError(error: unknown, run: Pick<RunState, 'either'>): JobError {
  const facts = billingOf(error)
  const extra = facts ? { billed: facts.billed, ...(facts.taskId ? { taskId: facts.taskId } : {}) } : {}
  if (ImagesEditError.is(error)) return { code: error.code, message: error.message, ...extra }
  if (run.either.aborted) return { code: 'ABORTED', message: 'interrupted', ...extra }
  if (isFsError(error)) return { code: 'STORE', message: fsError(error, { doing: 'a file operation of the job' }).message, ...extra }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), ...extra }
}
