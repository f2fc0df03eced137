/**
 * How task services are polled when neither the provider definition nor the manifest says
 * otherwise. One definition: provider defaults, the runner and the docs read these.
 */
export const POLL_DEFAULTS = {
  /** First status poll this long after submit. */
  pollIntervalMs: 5_000,
  /** Longest wait between two polls. */
  maxPollIntervalMs: 10_000,
  /** Stop polling a task after this long; it stays journaled and is collected later. */
  taskTimeoutMs: 900_000,
} as const
