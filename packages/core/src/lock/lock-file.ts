// The lock file `images.edit.lock`: what it records, and writing it (reading, serializing and its store live beside it).
import type { JobParams } from '../manifest/job.js'
import type { OutputFormat } from '../providers/provider.js'
import { writeFileAtomic } from '../store/atomic-write.js'
import { readLockText } from './lock-read.js'
import { serializeLock } from './lock-serialize.js'

export { checkLockPaths, emptyLock, readLock } from './lock-read.js'
export { serializeLock, sortedParams } from './lock-serialize.js'
export { type LockState, LockStore, type LockVerifier, type WrittenLock } from './lock-store.js'

/** An input of a locked job. */
export interface LockedInput {
  /** Path relative to the manifest folder, for a file. */
  path?: string
  /** For a URL reference. */
  url?: string
  sha256?: string
}

/** An output of a locked job. */
export interface LockedOutput {
  /** Path relative to the manifest folder. */
  path: string
  /**
   * Which image of the take this output is, 1-based, when it is not the output's own position
   * (`images-edit pick`); absent for the default (output 1 is image 1, …).
   */
  image?: number
  sha256: string
  width: number
  height: number
  format: OutputFormat
}

/** What the lock records for one job. */
export interface LockedJob {
  key: string
  recipe: string
  provider: string
  model: string
  /** Which take of the key the outputs are. */
  take: number
  /**
   * Images the take has (its candidates), when more than the outputs: a fresh clone then knows
   * the take is complete and pays for none of the candidates it does not have. Absent when equal.
   */
  candidates?: number
  prompt: string
  params: JobParams
  seed?: string | number
  refs: LockedInput[]
  mask?: LockedInput
  outputs: LockedOutput[]
}

/** `images.edit.lock`. */
export interface LockFile {
  lockfileVersion: 1
  jobs: Record<string, LockedJob>
}

/** Writes the lock if its text changed. Returns whether it wrote. */
export async function writeLock(path: string, lock: LockFile): Promise<boolean> {
  const text = serializeLock(lock)
  const current = await readLockText(path).catch(() => undefined)
  if (current === text) return false
  await writeFileAtomic(path, text)
  return true
}
