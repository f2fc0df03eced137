import { setTimeout as sleep } from 'node:timers/promises'
import type { LimitFunction } from 'p-limit'
import { ImagesEditError } from '../errors.js'

/** Frees what {@link acquire} took. */
type Release = () => void

/** Takes one place of a p-limit and keeps it until released, so a job can give it back half-way (p-limit frees it only when a call ends). */
function acquire(limit: LimitFunction): Promise<Release> {
  return new Promise<Release>((taken) => {
    void limit(() => new Promise<void>((release) => taken(release)))
  })
}

/**
 * The provider and global slots of one job, taken while the provider works for it (uploads, the
 * paid call, polls, the download) and given back for anything else: verifying and storing the
 * result, a commit, or a `Retry-After` wait. Waiting for a provider slot holds no global one, so
 * one busy provider never starves the others.
 */
export class JobSlots {
  private releases: Release[] | undefined
  private taking: Promise<void> | undefined

  constructor(
    private readonly provider: LimitFunction,
    private readonly global: LimitFunction,
  ) {}

  get held(): boolean {
    return this.releases !== undefined
  }

  /** Waits for both slots (the provider's first); at once when held already. */
  async take(): Promise<void> {
    if (this.releases) return
    this.taking ??= (async () => {
      const provider = await acquire(this.provider)
      const global = await acquire(this.global)
      this.releases = [global, provider]
    })().finally(() => {
      this.taking = undefined
    })
    await this.taking
  }

  /** Gives both back (nothing when not held). */
  give(): void {
    const releases = this.releases
    this.releases = undefined
    for (const release of releases ?? []) release()
  }

  /**
   * Waits `ms` (a `Retry-After`), holding the slots for the first `holdMs` of it only, then takes
   * them again. A stop during the wait throws `ABORTED`.
   */
  async waitOut(ms: number, signal: AbortSignal, holdMs = 0): Promise<void> {
    const held = Math.min(Math.max(0, holdMs), ms)
    try {
      if (held > 0) await sleep(held, undefined, { signal })
      this.give()
      await sleep(ms - held, undefined, { signal })
    } catch {
      throw new ImagesEditError('ABORTED', 'interrupted while waiting to retry')
    }
    await this.take()
  }
}
