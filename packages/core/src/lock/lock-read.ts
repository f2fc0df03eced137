// Reading the lock: its text, bounded; its YAML parsed and checked; the paths it names kept inside the project.
import { basename } from 'node:path'
import { ImagesEditError } from '../errors.js'
import { isPlainRelative, readBoundedText } from '../fs/project-fs.js'
import { yaml } from '../manifest/yaml-module.js'
import type { LockedJob, LockFile } from './lock-file.js'

/** An empty lock. */
export function emptyLock(): LockFile {
  return { lockfileVersion: 1, jobs: {} }
}

/**
 * Reads the lock. A missing lock is empty. A lock that cannot be read (merge conflict markers,
 * broken YAML, unknown version) is an error: overwriting it could throw away what it records.
 */
export async function readLock(path: string): Promise<LockFile> {
  const text = await readLockText(path)
  return text === undefined ? emptyLock() : parseLock(path, text)
}

/** The lock's text, bounded (a lock linked to /dev/zero is refused at once); undefined when there is none. */
export async function readLockText(path: string): Promise<string | undefined> {
  return readBoundedText(path, 'lock', { missingOk: true })
}

/** Parses and checks the lock's text; see {@link readLock}. */
export function parseLock(path: string, text: string): LockFile {
  if (/^(<{7}|={7}|>{7})( |$)/m.test(text)) {
    throw new ImagesEditError(
      'STORE',
      `${path} has git merge conflict markers. Resolve the conflict (or take either side with \`git checkout --ours/--theirs\`), then rerun: images-edit rewrites the lock from what is on disk.`,
    )
  }
  let value: unknown
  try {
    value = yaml().parse(text, { maxAliasCount: 100, logLevel: 'error' })
  } catch (error) {
    throw new ImagesEditError('STORE', `${path} is not valid YAML (${(error as Error).message}). Restore it from git, or delete it to rebuild it.`)
  }
  if (value === null || value === undefined) return emptyLock()
  const lock = value as Partial<LockFile>
  if (lock.lockfileVersion !== 1 || typeof lock.jobs !== 'object' || lock.jobs === null) {
    throw new ImagesEditError('STORE', `${path} is not an images-edit lock of version 1. Restore it from git, or delete it to rebuild it.`)
  }
  for (const [id, entry] of Object.entries(lock.jobs)) {
    const job = entry as Partial<LockedJob> | null
    const sound =
      job !== null &&
      typeof job === 'object' &&
      typeof job.key === 'string' &&
      positiveInteger(job.take) &&
      (job.candidates === undefined || positiveInteger(job.candidates)) &&
      Array.isArray(job.refs) &&
      Array.isArray(job.outputs) &&
      job.outputs.every(
        (output) =>
          output &&
          typeof output.path === 'string' &&
          typeof output.sha256 === 'string' &&
          positiveInteger(output.width) &&
          positiveInteger(output.height) &&
          OUTPUT_FORMATS.has(output.format) &&
          (output.image === undefined || positiveInteger(output.image)),
      )
    if (!sound) throw new ImagesEditError('STORE', `${path}: the entry for ${id} is malformed. Restore the lock from git, or delete it to rebuild it.`)
  }
  return { lockfileVersion: 1, jobs: lock.jobs }
}

/**
 * Every path the lock names must be a plain relative path inside the project (no `..`, no root
 * or drive), as a manifest path must: a lock naming `../../secret` was edited by hand or damaged,
 * and is not used (`allowOutside`: the manifest's `security.allowOutsideProject`).
 */
export function checkLockPaths(path: string, lock: LockFile, allowOutside: boolean): void {
  if (allowOutside) return
  for (const [id, entry] of Object.entries(lock.jobs)) {
    const named = [
      ...entry.outputs.map((output) => output.path),
      ...[...entry.refs, ...(entry.mask ? [entry.mask] : [])].flatMap((input) => (typeof input?.path === 'string' ? [input.path] : [])),
    ]
    const outside = named.find((item) => !isPlainRelative(item))
    if (outside !== undefined) {
      throw new ImagesEditError(
        'STORE',
        `${path}: the entry for ${id} names ${outside}, which is outside the project. The lock was edited by hand or is damaged, so it is not used (not even with --force-lock). Restore it from git (git checkout ${basename(path)}), or delete it to rebuild it from the store.`,
      )
    }
  }
}

function positiveInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1
}

/** What an output's `format` can be: a lock naming anything else (markup, say) is malformed. */
const OUTPUT_FORMATS: ReadonlySet<unknown> = new Set(['png', 'jpeg', 'webp'])
