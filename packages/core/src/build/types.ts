import type { LockedJob } from '../lock/lock-file.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { Plan } from '../plan/plan.js'
import type { EventListener, JobError } from '../run/events.js'
import type { Workspace } from '../workspace/workspace.js'

/** Options of `Project.build`. */
export interface BuildOptions {
  /** Recipe or job ids to take anew: a new paid take, overwriting edited outputs. */
  force?: readonly string[]
  /** Only these recipe or job ids (all when empty). */
  only?: readonly string[]
  /**
   * Refuse to generate anything (exit 3). Leave it undefined unless the user said so explicitly:
   * the build then applies the one rule, {@link resolveFrozen} (frozen exactly when `CI` is set in
   * the project's environment).
   */
  frozen?: boolean
  /** Refuse a run that would generate more new images than this. Overrides `budget.maxImagesPerRun`. */
  maxImages?: number
  /**
   * Refuse a run whose estimated cost (output images, in the manifest's `prices.currency`) is
   * over this, or cannot be estimated because a paid image has no known price. Overrides `budget.maxSpend`.
   */
  maxSpend?: number
  /** Global cap on jobs in flight. Overrides the manifest's `concurrency`. */
  concurrency?: number
  /** Finish the other jobs when one fails. @default true */
  keepGoing?: boolean
  /** Treat manifest warnings as errors. */
  strict?: boolean
  /** Rewrite `images.edit.lock` even though it was edited by hand. */
  forceLock?: boolean
  /** Use this already loaded (and valid) manifest instead of reading it again (dev sessions). */
  loaded?: LoadedManifest
  /**
   * Whether a finished job's result should still be written to its outputs and the lock. A dev
   * session answers false when the recipe changed while the job ran: the paid result is kept in
   * the store for when that key comes back, but does not overwrite the newer recipe's output.
   */
  isCurrent?: (jobId: string, key: string) => boolean
  /**
   * Stops the build (Ctrl-C): nothing new starts, paid calls already sent are answered, their task
   * ids journaled and their results kept, then the build returns `interrupted`.
   */
  signal?: AbortSignal
  /** Abandons paid calls still in flight after `signal` (a second Ctrl-C); their jobs are reported as possibly billed. */
  abandon?: AbortSignal
  onEvent?: EventListener
}

/** What a build did. */
export interface BuildResult {
  plan: Plan
  loaded: LoadedManifest
  done: string[]
  fresh: string[]
  restored: string[]
  failed: { id: string; error: JobError }[]
  blocked: { id: string; reasons: string[] }[]
  /** Jobs an interruption (Ctrl-C) stopped before they finished; a rerun picks them up. */
  notStarted: string[]
  /** New images this run generated (the jobs in `done`); what it paid for is `plan.paidImages` of those. */
  newImages: number
  lockWritten: boolean
  interrupted: boolean
}

/** The state one build threads through its stages. */
export interface BuildRun {
  workspace: Workspace
  options: BuildOptions
  /** Events, with every configured key redacted. */
  emit: EventListener
  /** Applied to what the run stores or reports, so no configured key leaves through it. */
  redact: <T>(value: T) => T
  result: BuildResult
  /** Lock entries this run sets; jobs that fail, are blocked or interrupted keep theirs. */
  updates: Record<string, LockedJob>
}
