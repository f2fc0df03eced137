// Merging a job's record with a teammate's: every take either has, a partial take never replacing a complete one.
import type { JobRecord } from '../store/store.js'

/**
 * `ours` with every take of `theirs` it does not have. Where both have a take, the one with more
 * images is kept (ours when equal): a partial take never replaces a complete one.
 */
export function mergeRecords(theirs: JobRecord | undefined, ours: JobRecord): JobRecord {
  if (!theirs) return ours
  const byNumber = new Map(theirs.takes.map((take) => [take.take, take]))
  for (const take of ours.takes) {
    const other = byNumber.get(take.take)
    if (!other || take.images.length >= other.images.length) byNumber.set(take.take, take)
  }
  return { ...ours, takes: [...byNumber.values()].sort((a, b) => a.take - b.take) }
}
