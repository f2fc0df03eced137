// Candidates and picks: which image of a take each output is, and how many images the take has.
import type { LockedJob } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import type { ImageRecord, JobRecord } from '../store/store.js'
import type { PlannedJob } from './plan.js'

/** Whether the lock entry describes this key and take (its picks and pins apply). */
export function lockIsTake(job: Job, locked: LockedJob | undefined, take: number): locked is LockedJob {
  return locked !== undefined && locked.key === job.key && locked.take === take
}

/** The first `n` images of a take, in order: the default picks. */
export function firstPicks(n: number): number[] {
  return Array.from({ length: n }, (_, index) => index)
}

/**
 * The 0-based image of the take each output is: the lock's picks when its entry is this key and
 * take, else the record's last pick of that take (a pick outlives a recipe change and its
 * revert), else the first `n`. Outputs beyond those (`n` grew) get the lowest images not
 * already picked.
 */
export function outputPicks(job: Job, locked: LockedJob | undefined, take: number, record?: JobRecord): number[] {
  const fromRecord = record?.picked?.take === take ? record.picked.images.map((image) => image - 1) : []
  const picks = lockIsTake(job, locked, take)
    ? locked.outputs.slice(0, job.n).map((output, index) => (output.image ?? index + 1) - 1)
    : fromRecord.slice(0, job.n)
  for (let next = 0; picks.length < job.n; next++) if (!picks.includes(next)) picks.push(next)
  return picks
}

/** Images the lock says the take has (its candidates, or at least every image it picks); 0 when the entry is another key or take. */
export function lockedTakeSize(job: Job, locked: LockedJob | undefined, take: number): number {
  if (!lockIsTake(job, locked, take)) return 0
  return Math.max(locked.candidates ?? 0, locked.outputs.length, ...locked.outputs.map((output) => output.image ?? 0))
}

/** Whether `picks` are the default ones (output 1 is image 1, …). */
export function picksAreFirst(picks: readonly number[]): boolean {
  return picks.every((pick, index) => pick === index)
}

/**
 * The image output `index` gets: from `images` (the take's images in order, as the runner or
 * the store has them) at the output's pick, else the one the plan found for it (a pin).
 */
export function outputImage(item: Pick<PlannedJob, 'picks' | 'served'>, images: readonly ImageRecord[], index: number): ImageRecord | undefined {
  return images[item.picks[index] ?? index] ?? item.served[index]
}
