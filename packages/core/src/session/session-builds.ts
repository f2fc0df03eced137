import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'

/** What a build run by {@link SessionBuilds.start} is given. */
export interface BuildControl {
  /** Call when the build passed its refusals (its `plan` event): the start then resolves. */
  accept(): void
  /** Whether `accept` was called. */
  accepted(): boolean
  signal: AbortSignal
  abandon: AbortSignal
}

/**
 * The builds a dev session runs in the background: which job keys are being built, each start's
 * acceptance (resolved once the build passed its refusals, so a caller can say "refused" or
 * "started" without waiting for a provider), waiting for them all, and stopping them.
 */
export class SessionBuilds {
  /** Job id → keys being built right now (possibly several keys over time). */
  private readonly building = new Map<string, Set<string>>()
  private readonly builds = new Set<Promise<unknown>>()
  private readonly controller = new AbortController()
  /** Abandons paid calls in flight (a second Ctrl-C, or a close that may not wait any longer). */
  private readonly abandonController = new AbortController()

  /** Aborted when the session closes with `abort`. */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Whether this key of this job is being built. */
  has(id: string, key: string): boolean {
    return this.building.get(id)?.has(key) === true
  }

  /** Jobs with a build in flight. */
  inFlight(): string[] {
    return [...this.building.entries()].filter(([, keys]) => keys.size > 0).map(([id]) => id)
  }

  /**
   * Runs `build` for `jobs` in the background. Resolves when it calls `accept` (or finishes);
   * rejects with its error when it fails before accepting. Nobody has to await it.
   */
  start(jobs: readonly Job[], build: (control: BuildControl) => Promise<void>): Promise<void> {
    for (const job of jobs) this.building.set(job.id, (this.building.get(job.id) ?? new Set<string>()).add(job.key))
    let accepted = false
    let settle: { resolve: () => void; reject: (error: unknown) => void } = { resolve: () => {}, reject: () => {} }
    const acceptance = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject }
    })
    acceptance.catch(() => {})
    const control: BuildControl = {
      accept: () => {
        accepted = true
        settle.resolve()
      },
      accepted: () => accepted,
      signal: this.controller.signal,
      abandon: this.abandonController.signal,
    }
    const running = build(control)
      .then(control.accept, settle.reject)
      .finally(() => {
        for (const job of jobs) this.building.get(job.id)?.delete(job.key)
        this.builds.delete(running)
      })
    this.builds.add(running)
    return acceptance
  }

  /** Waits until no build is running. */
  async idle(): Promise<void> {
    while (this.builds.size > 0) await Promise.allSettled([...this.builds])
  }

  /**
   * Stops (see `DevSession.close`): with `abort`, nothing new starts and free work stops at once;
   * `abandon` (or `abandonAfterMs` passing) gives up on paid calls in flight too. Resolves once
   * `idle` (the session's own wait, which includes these builds) does.
   */
  async stop(options: { abort?: boolean; abandon?: AbortSignal; abandonAfterMs?: number }, idle: () => Promise<void>): Promise<void> {
    if (options.abort) this.controller.abort(new ImagesEditError('ABORTED', 'the dev session closed'))
    const abandon = () => this.abandonController.abort(new ImagesEditError('ABORTED', 'paid calls abandoned'))
    if (options.abandon?.aborted) abandon()
    options.abandon?.addEventListener('abort', abandon, { once: true })
    const timer = options.abandonAfterMs === undefined ? undefined : setTimeout(abandon, options.abandonAfterMs)
    try {
      await idle()
    } finally {
      clearTimeout(timer)
      options.abandon?.removeEventListener('abort', abandon)
    }
  }
}
