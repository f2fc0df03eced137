import type { Job } from '../manifest/job.js'
import type { PlannedJob } from '../plan/plan.js'
import type { ImageEditProvider, ProviderId, UploadCache } from '../providers/provider.js'
import type { Journal } from '../store/journal.js'
import type { KeyLocks } from '../store/key-lock.js'
import type { ImageRecord, ResultStore } from '../store/store.js'
import type { EventListener, InFlightCall, JobError } from './events.js'
import type { ProviderGate, RunnerGates } from './gates.js'
import type { JournalWriter } from './journal-writer.js'
import type { JobSlots } from './slots.js'

/** What the runner needs; everything is injected so tests and the Vite plugin can supply their own. */
export interface RunnerContext {
  store: ResultStore
  provider(id: ProviderId): ImageEditProvider
  /** Caps shared with other runs of the same project (`createRunnerGates(concurrency, limits)`). */
  gates: RunnerGates
  /** Stop on the first failure instead of finishing the other jobs. */
  keepGoing: boolean
  /**
   * Stops the run: nothing new starts (no upload, submit or poll), but paid calls already sent are
   * still answered, their task ids journaled and synchronous results kept.
   */
  signal: AbortSignal
  /** Abandons the paid calls in flight as well (a second Ctrl-C); their jobs are reported as possibly billed. */
  abandon?: AbortSignal
  /** Applied to every record before it is stored, so a secret a service echoes never reaches the store. */
  redact?: <T>(value: T) => T
  /** What `images` images of a job cost at today's prices, recorded with each run; undefined when no price is known or it is free. */
  estimate?: (job: Job, images: number) => { amount: number; currency: string } | undefined
  emit: EventListener
  /** Task ids of submitted, not yet stored tasks (resume after a crash). */
  journal: Journal
  /** One process at a time per job key. */
  keyLocks: KeyLocks
  uploads?: UploadCache
}

/** Outcome of one generated job. */
export type JobOutcome = { ok: true; images: ImageRecord[] } | { ok: false; error: JobError }

/** A job whose images are all in the store (decoded, verified, recorded): ready to be committed. */
export interface GeneratedJob {
  planned: PlannedJob
  images: ImageRecord[]
  /** When the job started (ms since the epoch), for its `elapsedMs`. */
  startedAt: number
  /**
   * Tells the runner the caller is done with this job (committed it, or failed to). Call it for
   * every job yielded: the job keeps its key's lock (and its place in the runner's finishing
   * limit) until then; a commit that fails can stop the run (`stop`): nothing unsent is paid for.
   */
  settle(): void
}

/** Handle of one run: iterate it to receive each generated job as soon as its images are stored. */
export interface RunHandle extends AsyncIterable<GeneratedJob> {
  /** Outcome per job id, complete once iteration has ended: ok for yielded jobs, the error (already emitted as job:failed by the runner) for the others. */
  outcomes(): Map<string, JobOutcome>
  /** Starts nothing new, like a tripped --no-keep-going (the caller's commit of a job failed). */
  stop(reason: Error): void
}

/** The signals and bookkeeping of one run. */
export interface RunState {
  /** Start nothing new. */
  stop: AbortSignal
  /** Abandon paid calls in flight. */
  hard: AbortSignal
  /** Either: for free work, which may stop at once. */
  either: AbortSignal
  /** Paid calls sent and not yet answered (or synchronous results not yet downloaded), by job id. */
  inFlight: Map<string, InFlightCall>
}

/** The run state for a stop signal and the context's `abandon`. */
export function createRunState(stop: AbortSignal, context: RunnerContext): RunState {
  const hard = context.abandon ?? new AbortController().signal
  return { stop, hard, either: AbortSignal.any([stop, hard]), inFlight: new Map() }
}

/** Everything the work of one job needs, passed down as one value. */
export interface JobScope {
  planned: PlannedJob
  context: RunnerContext
  provider: ImageEditProvider
  gate: ProviderGate
  run: RunState
  /** Paid attempts of the current request (refusals retried later count here). */
  attempts: { paid: number }
  journal: JournalWriter
  /** The job's provider and global slots, held while the provider works for it. */
  slots: JobSlots
  /**
   * Keep the slots until the job is committed (`--concurrency 1`, or a provider cap of 1): then no
   * paid call is in flight while an output is written (a crash there loses nothing), and a failed
   * commit under --no-keep-going stops the run before the next job is paid for.
   */
  holdSlots: boolean
  /** Hands the job's stored images to the caller; it resolves when the caller has settled them. */
  deliver(images: ImageRecord[]): Promise<void>
}
