import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import { markBilled, mayHaveBeenBilled } from './billing.js'
import type { RunState } from './context.js'
import type { EventListener } from './events.js'
import type { ProviderGate } from './gates.js'
import { mayRetry, PAID_RETRIES, retryDelay } from './retry.js'

/** A paid call was refused in a way that proves nothing was accepted: retry after `delayMs`, outside the slots. */
export class RetryLater extends Error {
  constructor(
    readonly delayMs: number,
    readonly note: string,
  ) {
    super(note)
  }
}

/**
 * One paid request through the provider's rate gate. It is sent only if the run is not stopping;
 * once sent it is answered even while the run stops (only `abandon` cuts it off). A refusal that
 * proves nothing was accepted is retried later, outside the job's slots; anything else is final
 * and, when the service may have accepted it, says so.
 */
export async function paidCall<T>(
  call: () => Promise<T>,
  stage: 'submit' | 'generate',
  job: Job,
  gate: ProviderGate,
  run: RunState,
  attempts: { paid: number },
): Promise<T> {
  try {
    let sent = false
    const queued = gate.paid(async () => {
      if (run.stop.aborted || run.hard.aborted) throw new ImagesEditError('ABORTED', 'interrupted before the paid request was sent')
      sent = true
      attempts.paid++
      run.inFlight.set(job.id, { id: job.id, provider: job.provider, stage })
      try {
        return await call()
      } finally {
        run.inFlight.delete(job.id)
      }
    })
    // Waiting for the rate gate's turn ends at a stop (Ctrl-C): nothing was sent, so nothing is
    // owed. Once sent, the request is answered (only `abandon` cuts it off, inside `call`).
    const value = await untilStopped(queued, run.either, () => !sent)
    // Attempts count per request: the next chunk's refusals get the full allowance.
    attempts.paid = 0
    return value
  } catch (error) {
    if (run.hard.aborted && !(ImagesEditError.is(error) && error.message.startsWith('interrupted before'))) {
      throw markBilled(
        new ImagesEditError('ABORTED', `abandoned while ${job.provider} was answering a paid ${stage} request: it may have been billed`),
        'maybe',
      )
    }
    if (mayRetry(error, PAID_RETRIES) && attempts.paid < PAID_RETRIES.attempts) {
      const delayMs = retryDelay(error, attempts.paid - 1, PAID_RETRIES)
      throw new RetryLater(
        delayMs,
        `${(error as Error).message} — nothing was billed; retry ${attempts.paid} of ${PAID_RETRIES.attempts - 1} in ${formatWait(delayMs)} (slot released)`,
      )
    }
    throw mayHaveBeenBilled(error)
  }
}

/** A wait as a progress note shows it. */
export function formatWait(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes}m ${Math.round((ms - minutes * 60_000) / 1000)}s`
}

/** Tells a job's progress about each free retry's wait. */
export function retryNote(emit: EventListener, id: string) {
  return ({ attempt, delayMs, error }: { attempt: number; delayMs: number; error: unknown }) =>
    emit({ type: 'job:progress', id, stage: 'waiting', note: `retry ${attempt} in ${formatWait(delayMs)}: ${(error as Error).message}` })
}

/**
 * `queued`, or a rejection as soon as `signal` aborts while `waiting()` still holds. The queued
 * call, when its turn comes, sees the stop itself and sends nothing.
 */
function untilStopped<T>(queued: Promise<T>, signal: AbortSignal, waiting: () => boolean): Promise<T> {
  queued.catch(() => {})
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      if (waiting()) reject(new ImagesEditError('ABORTED', 'interrupted before the paid request was sent'))
    }
    if (signal.aborted) onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    queued.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
