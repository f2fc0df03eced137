import { setTimeout as sleep } from 'node:timers/promises'
import { ImagesEditError } from '../errors.js'
import { ProviderError } from '../providers/http.js'

/** How a call may be repeated. */
export interface RetryPolicy {
  /** `free`: uploads, polls, downloads. `paid`: submits — only when the service surely did not accept it. */
  kind: 'free' | 'paid'
  /** Attempts in all, the first included. */
  attempts: number
  /** First backoff step; doubled each retry up to `maxDelayMs`, with up to 25 % jitter. */
  baseDelayMs: number
  maxDelayMs: number
}

/**
 * Defaults: free calls 6 attempts from 0.5 s; a paid call 8 attempts, and only when the service
 * surely did not accept it (a 429 or 503 refusal costs nothing, so a burst of them must not fail
 * the job — seen in the B7 benchmark with three refusals in a row).
 */
export const FREE_RETRIES: RetryPolicy = { kind: 'free', attempts: 6, baseDelayMs: 500, maxDelayMs: 8_000 }
export const PAID_RETRIES: RetryPolicy = { kind: 'paid', attempts: 8, baseDelayMs: 1_000, maxDelayMs: 8_000 }

/** Whether an error allows another attempt under a policy. */
export function mayRetry(error: unknown, policy: RetryPolicy): boolean {
  if (!(error instanceof ProviderError)) return false
  return policy.kind === 'paid' ? error.notAccepted : error.retryable || error.notAccepted
}

/** The wait before retry number `retry` (0-based): the server's Retry-After when given, else backoff with jitter. */
export function retryDelay(error: unknown, retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  if (error instanceof ProviderError && error.retryAfterMs !== undefined) return error.retryAfterMs
  return Math.min(policy.baseDelayMs * 2 ** retry, policy.maxDelayMs) * (1 - random() * 0.25)
}

/**
 * Runs `call` until it succeeds, fails in a way the policy does not retry, runs out of attempts,
 * or the signal aborts. `onRetry` is told about each wait (for progress notes).
 */
export async function withRetries<T>(
  call: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: {
    signal: AbortSignal
    onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
    /** Waits out a retry's delay instead of a plain sleep (a job gives its slots back meanwhile). */
    wait?: (delayMs: number) => Promise<void>
  },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt)
    } catch (error) {
      if (options.signal.aborted) throw new ImagesEditError('ABORTED', 'interrupted', { cause: error })
      if (attempt >= policy.attempts || !mayRetry(error, policy)) throw error
      const delayMs = retryDelay(error, attempt - 1, policy)
      options.onRetry?.({ attempt, delayMs, error })
      if (options.wait) await options.wait(delayMs)
      else
        await sleep(delayMs, undefined, { signal: options.signal }).catch(() => {
          throw new ImagesEditError('ABORTED', 'interrupted')
        })
    }
  }
}
