import type { FileIndex } from '../hash/file-index.js'
import type { LockedJob, LockFile } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import type { JournalEntry } from '../store/journal.js'
import type { ImageRecord, JobRecord, ResultStore } from '../store/store.js'
import { firstPicks, lockedTakeSize, outputPicks } from './picks.js'
import { availableImages, chooseTake, lockChanged, outputReasons, planOutputs } from './plan-steps.js'
import { explainChange } from './why.js'

/** What happens to one output file. */
export interface OutputAction {
  path: string
  /** 0-based image index within the take. */
  index: number
  /**
   * - `keep`: the file already has the right bytes;
   * - `write`: write it (from the store, or after generation);
   * - `edited`: it differs from what images-edit wrote (edited by hand, or a file it never wrote),
   *   so it is left alone unless `--force`.
   */
  action: 'keep' | 'write' | 'edited'
  /** sha256 of the file when planned (absent: there was none). A write finds it so, or leaves the file alone. */
  seen?: string
}

/** The plan for one job. */
export interface PlannedJob {
  job: Job
  /**
   * - `fresh`: nothing to do;
   * - `restore`: outputs can be written from the store or lock with no provider call;
   * - `generate`: `newImages` images must be made by the provider;
   * - `blocked`: it would overwrite a file edited by hand; skipped unless `--force`.
   */
  status: 'fresh' | 'restore' | 'generate' | 'blocked'
  take: number
  /** The longest prefix of the take's images available here (from the store, or the lock's pins on a fresh clone), in order. */
  available: ImageRecord[]
  /** 0-based image of the take each output is (the first `n` unless picked: `images-edit pick`). */
  picks: number[]
  /** Per output, the image it gets when it is available here (a pick beyond `available` too); undefined when it must be generated. */
  served: (ImageRecord | undefined)[]
  /** Images the take has once this run is done (at least the job's `candidates`). */
  takeSize: number
  newImages: number
  outputs: OutputAction[]
  /** Why the job is not fresh, one line each: which ref or parameter changed, from what to what. */
  reasons: string[]
  /** Whether the lock entry changes (even when no file does). */
  lockChanges: boolean
  record?: JobRecord
  locked?: LockedJob
  forced: boolean
  /** Images of this take whose paid tasks an earlier run journaled: collected, not paid again. */
  collecting: number
}

/** What a run would do. */
export interface Plan {
  jobs: PlannedJob[]
  /** Images the run would generate, and how many of them cost money (journaled ones being collected excluded). */
  newImages: number
  paidImages: number
}

/** What the plan reads besides the manifest's jobs. */
export interface PlanContext {
  lock: LockFile
  store: ResultStore
  fileIndex: FileIndex
  root: string
  /** Paid tasks of earlier runs not yet collected (`.images-edit/journal`). */
  journal?: readonly JournalEntry[]
}

/** Options of {@link createPlan}. */
export interface PlanOptions {
  /** Recipe ids or job ids to take anew (a new take, overwriting edited outputs). */
  force?: ReadonlySet<string>
  /** Restrict the plan to these recipe or job ids (all when empty). */
  only?: ReadonlySet<string>
}

/**
 * Compares each job with the store, the lock and the files on disk. Reads no image bytes when
 * nothing changed: outputs are hashed through the stat cache.
 */
export async function createPlan(jobs: readonly Job[], context: PlanContext, options: PlanOptions = {}): Promise<Plan> {
  const selected = options.only && options.only.size > 0 ? jobs.filter((job) => options.only?.has(job.id) || options.only?.has(job.recipe)) : jobs
  // One folder listing instead of a failed read per job that has no record (a fresh clone).
  const recordKeys = new Set(await context.store.listRecords())
  const planned = await Promise.all(selected.map((job) => planJob(job, context, options, recordKeys)))
  let newImages = 0
  let paidImages = 0
  for (const item of planned) {
    if (item.status !== 'generate') continue
    newImages += item.newImages
    if (item.job.paid) paidImages += Math.max(0, item.newImages - item.collecting)
  }
  return { jobs: planned, newImages, paidImages }
}

/** Plans one job: its take, the images it has, its outputs, its status and why. */
async function planJob(job: Job, context: PlanContext, options: PlanOptions, recordKeys: ReadonlySet<string>): Promise<PlannedJob> {
  const locked = context.lock.jobs[job.id]
  const sameKey = locked?.key === job.key
  const record = recordKeys.has(job.key) ? await context.store.getRecord(job.key) : undefined
  const forced = options.force?.has(job.id) === true || options.force?.has(job.recipe) === true
  const reasons: string[] = []
  const pending = context.journal?.filter((entry) => entry.key === job.key) ?? []

  const take = chooseTake({ job, locked, record, pending, forced }, reasons)
  const takeNotes: string[] = []
  const { picks, available, served } = await servedImages(job, context, { locked, record, take, forced })
  const { newImages, takeSize, blocked } = imagesToMake(job, locked, take, { available, served }, takeNotes)
  const collecting = pending
    .filter((entry) => entry.take === take && entry.firstIndex >= available.length && !entry.uncollectable)
    .reduce((sum, entry) => sum + entry.count, 0)

  const outputs = await planOutputs(job, context, locked, served, forced)
  const edited = outputs.filter((output) => output.action === 'edited')
  const writes = outputs.filter((output) => output.action === 'write')
  let status: PlannedJob['status'] = newImages > 0 ? 'generate' : writes.length > 0 ? 'restore' : 'fresh'
  if (edited.length > 0 && (!sameKey || newImages > 0)) {
    // New bytes would land on a file someone edited: do not pay for a result we may not write.
    status = 'blocked'
  }
  if (blocked) status = 'blocked'

  if (!forced) reasons.push(...explainChange(job, locked, { served: served.filter(Boolean).length, newImages, record }))
  reasons.push(...takeNotes)
  reasons.push(...outputReasons(job, outputs, newImages, record))

  const lockChanges = lockChanged(job, locked, { take, served, picks, takeSize, newImages })
  if (status === 'fresh' && lockChanges && locked && locked.outputs.length > job.n) {
    reasons.push(`n shrank from ${locked.outputs.length} to ${job.n}: nothing to generate`)
  }

  return {
    job,
    status,
    take,
    available,
    picks,
    served,
    takeSize,
    newImages,
    outputs,
    reasons,
    lockChanges,
    ...(record ? { record } : {}),
    ...(locked ? { locked } : {}),
    forced,
    collecting: Math.min(collecting, newImages),
  }
}

/**
 * The job's picks and what is here of its take. A picked image that is not here stays the
 * output's image all the same: it is looked up in the team store by the lock's pin, and never
 * silently swapped for another one.
 */
async function servedImages(
  job: Job,
  context: PlanContext,
  facts: { locked: LockedJob | undefined; record: JobRecord | undefined; take: number; forced: boolean },
): Promise<{ picks: number[]; available: ImageRecord[]; served: (ImageRecord | undefined)[] }> {
  const { locked, record, take, forced } = facts
  const picks = forced ? firstPicks(job.n) : outputPicks(job, locked, take, record)
  if (forced) return { picks, available: [], served: picks.map(() => undefined) }
  return { picks, ...(await availableImages(job, context, locked, record, take, picks)) }
}

/**
 * How many images to make, and how many the take then has. Every output served: only the
 * candidates the take lacks, and none when what it lacks are candidates this store never had
 * (a fresh clone: the lock says the take is bigger than what is here; they are a teammate's).
 * An output not served: the take is made up to its `candidates` from the first missing image —
 * unless the lock says that take has candidates this clone lacks: remaking it would pay for all of
 * them again and replace the picks, so the job is `blocked` with what to do instead.
 */
function imagesToMake(
  job: Job,
  locked: LockedJob | undefined,
  take: number,
  have: { available: readonly ImageRecord[]; served: readonly (ImageRecord | undefined)[] },
  reasons: string[],
): { newImages: number; takeSize: number; blocked?: true } {
  const { available, served } = have
  const lockedSize = lockedTakeSize(job, locked, take)
  const known = Math.max(available.length, lockedSize)
  const takeSize = Math.max(job.candidates, known)
  const missing = served.flatMap((image, index) => (image ? [] : [index]))
  if (missing.length > 0 && lockedSize > Math.max(job.n, available.length)) {
    const outputs = missing.map((index) => job.outputs[index]).join(', ')
    reasons.push(
      `${outputs} ${missing.length === 1 ? 'needs an image' : 'need images'} of take ${take}, which has ${lockedSize} images, of which only ${available.length} ${available.length === 1 ? 'is' : 'are'} here: nothing is generated again (that would pay for the whole take). Run images-edit pull, build where the take is, or --force ${job.recipe} for a new take.`,
    )
    return { newImages: 0, takeSize, blocked: true }
  }
  if (missing.length > 0 || available.length >= known) return { newImages: Math.max(0, job.candidates - available.length), takeSize }
  if (job.candidates > known) {
    reasons.push(
      `candidates grew to ${job.candidates}, but only ${available.length} of take ${take}'s ${known} images are here: nothing is generated (build where the take is, or --force ${job.recipe} for a new take)`,
    )
  }
  return { newImages: 0, takeSize: known }
}
