import pLimit from 'p-limit'
import pThrottle from 'p-throttle'
import type { ProviderId } from '../providers/provider.js'
import { TaskLatencies } from './latency.js'

/** Limits and cadence of one provider, as the runner applies them. */
export interface ProviderLimits {
  /** Jobs in flight on this provider (on top of the global cap). */
  concurrency?: number
  /** Paid requests per minute. */
  requestsPerMinute?: number
  /** Status queries per minute (task services). @default 3000 (toapis' default bucket) */
  statusRequestsPerMinute?: number
  /** First poll this long after submit. @default POLL_DEFAULTS.pollIntervalMs (5000) */
  pollIntervalMs?: number
  /** Longest wait between polls. @default POLL_DEFAULTS.maxPollIntervalMs (10000) */
  maxPollIntervalMs?: number
  /** Stop polling a task after this long; it stays journaled. @default POLL_DEFAULTS.taskTimeoutMs (900000) */
  taskTimeoutMs?: number
}

/** The caps and rate gates of one provider, with the limits they were made from (polling reads them). */
export interface ProviderGate {
  /** The provider's slots: jobs the provider is working for (uploads, the paid call, polls, downloads). */
  limit: ReturnType<typeof pLimit>
  /**
   * Jobs of this provider holding their key's lock: the ones in its slots, plus as many again
   * waiting for a slot or verifying, storing and committing their results. Bounds the locks and the
   * results in memory while commits lag behind.
   */
  admit: ReturnType<typeof pLimit>
  /** Latencies of its completed tasks, per model: where first polls aim. */
  latency: TaskLatencies
  paid: <T>(call: () => Promise<T>) => Promise<T>
  status: <T>(call: () => Promise<T>) => Promise<T>
  limits: ProviderLimits
}

/**
 * The concurrency caps and rate gates of a project. Shared by every run of one `Project`, so
 * overlapping runs (a dev session rebuilding while an earlier change is still generating) stay
 * within the same global and per-provider limits.
 */
export interface RunnerGates {
  /** The global cap of the project's runs. */
  concurrency: number
  global: ReturnType<typeof pLimit>
  /** Verifying and storing results and committing them, outside the provider slots; as many at once as the global cap. */
  finish: ReturnType<typeof pLimit>
  provider(id: ProviderId): ProviderGate
  /**
   * Takes the cadence (poll interval, task timeout) of a newer configuration: a run reusing the
   * gates polls as its own manifest says. The caps and rates stay the ones the gates were made with.
   */
  retune(limits: (id: ProviderId) => ProviderLimits): void
}

/** Creates the gates for a global cap and per-provider limits. */
export function createRunnerGates(concurrency: number, limits: (id: ProviderId) => ProviderLimits): RunnerGates {
  const providers = new Map<ProviderId, ProviderGate>()
  let current = limits
  const cap = Math.max(1, concurrency)
  return {
    concurrency: cap,
    global: pLimit(cap),
    finish: pLimit(cap),
    retune(next) {
      current = next
      for (const [id, gate] of providers) gate.limits = next(id)
    },
    provider(id) {
      let existing = providers.get(id)
      if (!existing) {
        const limit = current(id)
        const slots = Math.max(1, limit.concurrency ?? concurrency)
        existing = {
          limit: pLimit(slots),
          admit: pLimit(2 * slots),
          latency: new TaskLatencies(),
          paid: rateLimited(limit.requestsPerMinute),
          status: rateLimited(limit.statusRequestsPerMinute ?? 3000),
          limits: limit,
        }
        providers.set(id, existing)
      }
      return existing
    },
  }
}

/** A wrapper that spreads calls to at most `perMinute` a minute (smoothly, not in bursts). */
function rateLimited(perMinute: number | undefined): <T>(call: () => Promise<T>) => Promise<T> {
  if (!perMinute) return (call) => call()
  const limit = Math.max(1, Math.floor(perMinute / 60))
  const throttled = pThrottle({ limit, interval: Math.round((60_000 * limit) / perMinute) })((call: () => Promise<unknown>) => call())
  return <T>(call: () => Promise<T>) => throttled(call) as Promise<T>
}
