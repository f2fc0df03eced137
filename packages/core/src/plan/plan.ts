import { join } from 'node:path'
import type { FileIndex } from '../hash/file-index.js'
import type { LockedJob, LockFile } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import type { JournalEntry } from '../store/journal.js'
import type { ImageRecord, JobRecord, ResultStore } from '../store/store.js'
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
  /** Images already available for the take (from the store, or the lock on a fresh clone), in order. */
  available: ImageRecord[]
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

async function planJob(job: Job, context: PlanContext, options: PlanOptions, recordKeys: ReadonlySet<string>): Promise<PlannedJob> {
  const locked = context.lock.jobs[job.id]
  const sameKey = locked?.key === job.key
  const record = recordKeys.has(job.key) ? await context.store.getRecord(job.key) : undefined
  const forced = options.force?.has(job.id) === true || options.force?.has(job.recipe) === true
  const reasons: string[] = []
  const pending = context.journal?.filter((entry) => entry.key === job.key) ?? []

  let take: number
  const available: ImageRecord[] = []
  if (forced) {
    // Past every take the store, the lock or the journal (a take paid and not delivered) knows.
    take = Math.max(0, ...(record?.takes.map((item) => item.take) ?? []), ...pending.map((entry) => entry.take), sameKey ? locked.take : 0) + 1
    reasons.push(`--force: new take ${take}`)
  } else {
    take = sameKey ? locked.take : (record?.selectedTake ?? 1)
    // A newer take whose paid tasks an interrupted run journaled (`build --force` cut short) is
    // collected by any later build and becomes the job's take, as that run meant it to.
    const interrupted = Math.max(0, ...pending.filter((entry) => entry.take > take && !entry.uncollectable).map((entry) => entry.take))
    if (interrupted > 0) {
      take = interrupted
      reasons.push(`take ${take} was started by an interrupted run; its journaled tasks are collected (not paid again)`)
    }
    const stored = record?.takes.find((item) => item.take === take)?.images ?? []
    // The longest prefix of images we can serve: from the store, else (fresh clone) from the
    // output file the lock names, when it still has the locked bytes.
    for (let index = 0; index < job.n; index++) {
      const fromStore = stored[index]
      if (fromStore && (await context.store.hasObject(fromStore.sha256))) {
        available.push(fromStore)
        continue
      }
      const fromLock = sameKey && locked.take === take ? locked.outputs[index] : undefined
      if (fromLock && (await fileHas(context, fromLock.path, fromLock.sha256))) {
        available.push({ sha256: fromLock.sha256, width: fromLock.width, height: fromLock.height, format: fromLock.format, bytes: 0 })
        continue
      }
      break
    }
  }
  const newImages = job.n - available.length
  const collecting = pending
    .filter((entry) => entry.take === take && entry.firstIndex >= available.length && !entry.uncollectable)
    .reduce((sum, entry) => sum + entry.count, 0)

  const outputs: OutputAction[] = []
  for (let index = 0; index < job.n; index++) {
    const path = job.outputs[index] as string
    const expected = available[index]?.sha256
    const lookup = await context.fileIndex.lookup(join(context.root, path))
    if (!lookup.ok) {
      outputs.push({ path, index, action: 'write' })
      continue
    }
    const current = lookup.info.sha256
    if (expected !== undefined && current === expected) {
      outputs.push({ path, index, action: 'keep' })
      continue
    }
    // Overwriting is safe only when the bytes on disk can be had again: they are what the lock
    // records for this path (so they are in git) or one of our own results (in the store).
    const lockedSha = locked?.outputs.find((output) => output.path === path)?.sha256
    const recoverable = current === lockedSha || (await context.store.hasObject(current))
    outputs.push({ path, index, action: recoverable || forced ? 'write' : 'edited' })
  }

  const edited = outputs.filter((output) => output.action === 'edited')
  const writes = outputs.filter((output) => output.action === 'write')
  let status: PlannedJob['status'] = newImages > 0 ? 'generate' : writes.length > 0 ? 'restore' : 'fresh'
  if (edited.length > 0 && (!sameKey || newImages > 0)) {
    // New bytes would land on a file someone edited: do not pay for a result we may not write.
    status = 'blocked'
  }

  if (!forced) reasons.push(...explainChange(job, locked, { available: available.length, record }))
  for (const output of outputs) {
    if (output.action === 'edited') {
      reasons.push(`${output.path} differs from what images-edit wrote (edited by hand?); kept — use --force ${job.recipe} to overwrite`)
    } else if (output.action === 'write' && newImages === 0) {
      reasons.push(`${output.path} is missing or outdated; restored from ${record ? 'the store' : 'the lock'} at no cost`)
    }
  }

  const lockedNames = (inputs: readonly { path?: string; url?: string }[]) => inputs.map((input) => input.path ?? input.url ?? '').join('\u0000')
  const jobNames = (inputs: readonly Job['refs'][number][]) =>
    inputs.map((input) => (input.input.kind === 'file' ? (input.path ?? input.source) : input.input.url)).join('\u0000')
  const lockChanges =
    !sameKey ||
    locked.recipe !== job.recipe ||
    locked.outputs.length !== job.n ||
    locked.outputs.some((output, index) => output.path !== job.outputs[index] || output.sha256 !== available[index]?.sha256) ||
    locked.take !== take ||
    newImages > 0 ||
    // A renamed or moved ref keeps the key but the lock names its new path.
    lockedNames(locked.refs) !== jobNames(job.refs) ||
    lockedNames(locked.mask ? [locked.mask] : []) !== jobNames(job.mask ? [job.mask] : [])
  if (status === 'fresh' && lockChanges && locked && locked.outputs.length > job.n) {
    reasons.push(`n shrank from ${locked.outputs.length} to ${job.n}: nothing to generate`)
  }

  return {
    job,
    status,
    take,
    available,
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

async function fileHas(context: Pick<PlanContext, 'fileIndex' | 'root'>, path: string, sha: string): Promise<boolean> {
  const lookup = await context.fileIndex.lookup(join(context.root, path))
  return lookup.ok && lookup.info.sha256 === sha
}
