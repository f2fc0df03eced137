// The steps of planning one job: its take, the images it has, what happens to each output, and whether its lock entry changes.
import { join } from 'node:path'
import type { LockedJob, LockedOutput } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import type { JournalEntry } from '../store/journal.js'
import type { ImageRecord, JobRecord } from '../store/store.js'
import { lockIsTake } from './picks.js'
import type { OutputAction, PlanContext } from './plan.js'

/** What the take of a job is chosen from. */
export interface TakeFacts {
  job: Job
  locked: LockedJob | undefined
  record: JobRecord | undefined
  /** Journaled paid tasks of this job's key not yet collected. */
  pending: readonly JournalEntry[]
  forced: boolean
}

/**
 * The take the job's outputs are: a new one when forced, else the locked (or selected) take, or a
 * newer one an interrupted run journaled. Pushes to `reasons` why it is new.
 */
export function chooseTake({ job, locked, record, pending, forced }: TakeFacts, reasons: string[]): number {
  const sameKey = locked?.key === job.key
  let take: number
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
  }
  return take
}

/**
 * What the job's take has here: `available`, the longest prefix of the take's images we can serve
 * (from the store, else from a file or store object the lock pins by sha256); and `served`, per
 * output, the image at its pick when we have it (a picked candidate may lie beyond the prefix).
 */
export async function availableImages(
  job: Job,
  context: PlanContext,
  locked: LockedJob | undefined,
  record: JobRecord | undefined,
  take: number,
  picks: readonly number[],
): Promise<{ available: ImageRecord[]; served: (ImageRecord | undefined)[] }> {
  const stored = record?.takes.find((item) => item.take === take)?.images ?? []
  // The lock pins its outputs' bytes by sha256, each at the take position it picks.
  const pins = new Map<number, LockedOutput>()
  if (lockIsTake(job, locked, take)) for (const [index, output] of locked.outputs.entries()) pins.set((output.image ?? index + 1) - 1, output)
  const at = async (position: number): Promise<ImageRecord | undefined> => {
    const pin = pins.get(position)
    // Where the lock pins a position, its sha256 decides: a record saying otherwise does not.
    const fromStore = stored[position]
    if (fromStore && (!pin || pin.sha256 === fromStore.sha256) && (await context.store.hasObject(fromStore.sha256))) return fromStore
    // The output file has the pinned bytes, or the store does (fetched from the team store, or
    // kept from an earlier run) and the file is written from it.
    if (pin && ((await fileHas(context, pin.path, pin.sha256)) || (await context.store.hasObject(pin.sha256)))) {
      return { sha256: pin.sha256, width: pin.width, height: pin.height, format: pin.format, bytes: 0 }
    }
    return undefined
  }
  const available: ImageRecord[] = []
  const size = Math.max(job.candidates, ...picks.map((pick) => pick + 1))
  for (let position = 0; position < size; position++) {
    const image = await at(position)
    if (!image) break
    available.push(image)
  }
  const served: (ImageRecord | undefined)[] = []
  for (const pick of picks) served.push(available[pick] ?? (await at(pick)))
  return { available, served }
}

/** What happens to each output file: kept, written, or left alone because it was edited. */
export async function planOutputs(
  job: Job,
  context: PlanContext,
  locked: LockedJob | undefined,
  served: readonly (ImageRecord | undefined)[],
  forced: boolean,
): Promise<OutputAction[]> {
  const outputs: OutputAction[] = []
  for (let index = 0; index < job.n; index++) {
    const path = job.outputs[index] as string
    const expected = served[index]?.sha256
    const lookup = await context.fileIndex.lookup(join(context.root, path))
    if (!lookup.ok) {
      outputs.push({ path, index, action: 'write' })
      continue
    }
    const current = lookup.info.sha256
    if (expected !== undefined && current === expected) {
      outputs.push({ path, index, action: 'keep', seen: current })
      continue
    }
    // Overwriting is safe only when the bytes on disk can be had again: they are what the lock
    // records for this path (so they are in git) or one of our own results (in the store).
    const lockedSha = locked?.outputs.find((output) => output.path === path)?.sha256
    const recoverable = current === lockedSha || (await context.store.hasObject(current))
    outputs.push({ path, index, action: recoverable || forced ? 'write' : 'edited', seen: current })
  }
  return outputs
}

/** Why outputs are touched or kept: one line for each edited file, and each one restored at no cost. */
export function outputReasons(job: Job, outputs: readonly OutputAction[], newImages: number, record: JobRecord | undefined): string[] {
  const reasons: string[] = []
  for (const output of outputs) {
    if (output.action === 'edited') {
      reasons.push(`${output.path} differs from what images-edit wrote (edited by hand?); kept — use --force ${job.recipe} to overwrite`)
    } else if (output.action === 'write' && newImages === 0) {
      reasons.push(`${output.path} is missing or outdated; restored from ${record ? 'the store' : 'the lock'} at no cost`)
    }
  }
  return reasons
}

/** Whether the lock entry changes (even when no file does): what {@link lockEntry} would write differs from it. */
export function lockChanged(
  job: Job,
  locked: LockedJob | undefined,
  planned: { take: number; served: readonly (ImageRecord | undefined)[]; picks: readonly number[]; takeSize: number; newImages: number },
): boolean {
  const { take, served, picks, takeSize, newImages } = planned
  const sameKey = locked?.key === job.key
  const lockedNames = (inputs: readonly { path?: string; url?: string }[]) => inputs.map((input) => input.path ?? input.url ?? '').join('\u0000')
  const jobNames = (inputs: readonly Job['refs'][number][]) =>
    inputs.map((input) => (input.input.kind === 'file' ? (input.path ?? input.source) : input.input.url)).join('\u0000')
  return (
    !sameKey ||
    locked.recipe !== job.recipe ||
    locked.outputs.length !== job.n ||
    locked.outputs.some(
      (output, index) =>
        output.path !== job.outputs[index] || output.sha256 !== served[index]?.sha256 || (output.image ?? index + 1) !== (picks[index] ?? index) + 1,
    ) ||
    locked.take !== take ||
    locked.candidates !== candidatesField(job, takeSize) ||
    newImages > 0 ||
    // A renamed or moved ref keeps the key but the lock names its new path.
    lockedNames(locked.refs) !== jobNames(job.refs) ||
    lockedNames(locked.mask ? [locked.mask] : []) !== jobNames(job.mask ? [job.mask] : [])
  )
}

/** The lock's `candidates` for a take of `takeSize` images: written only when the take has more images than the job has outputs. */
export function candidatesField(job: Job, takeSize: number): number | undefined {
  return takeSize > job.n ? takeSize : undefined
}

async function fileHas(context: Pick<PlanContext, 'fileIndex' | 'root'>, path: string, sha: string): Promise<boolean> {
  const lookup = await context.fileIndex.lookup(join(context.root, path))
  return lookup.ok && lookup.info.sha256 === sha
}
