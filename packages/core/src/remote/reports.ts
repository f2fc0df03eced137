// What the team-store commands report: push, pull and the remote part of status.
import type { BuildResult } from '../build/types.js'
import type { PlannedJob } from '../plan/plan.js'
import { HEX64, lockPins } from './team-remote.js'

/** What `Project.push` did. */
export interface PushReport {
  /** The team store's `s3://` URL. */
  location: string
  pushed: number
  /** Keys that stay queued, with why. */
  failed: { key: string; message: string }[]
  warnings: string[]
}

/** What `Project.pull` did. */
export interface PullReport {
  /** The team store's `s3://` URL. */
  location: string
  /** The restore: `restored` and `fresh` jobs, `blocked` ones (an edited output left alone), the lock written. */
  result: BuildResult
  /** Jobs a build would still have to make: neither the local store nor the team store has them. */
  missing: MissingJob[]
}

/** A job `pull` could not restore. */
export interface MissingJob {
  id: string
  newImages: number
  /** Images the lock pins for this job that neither store has: lost to this clone (`pull` exits 3 for paid ones). */
  lockedMissing: number
  /** Journaled paid tasks of earlier runs: a build collects them at no cost. */
  collecting: number
  /** The job's provider costs nothing (`local`): a build makes it for free. */
  free: boolean
  reasons: string[]
}

/** What `pull` says about a job it could not restore. */
export function missingJob(item: PlannedJob): MissingJob {
  const { job } = item
  return {
    id: job.id,
    newImages: item.newImages,
    // Images the lock pins beyond what is here; a hand-edited pin that is no sha256 pins nothing.
    lockedMissing: lockPins(item).filter((hash) => HEX64.test(hash)).length,
    collecting: item.collecting,
    free: !job.paid,
    reasons: item.reasons,
  }
}

/** The team store as `status` saw it. */
export interface RemoteState {
  location: string
  /** Why it could not be asked (outputs not here are then `unknown`). */
  error?: string
  warnings: string[]
}
