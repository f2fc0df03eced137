import { join } from 'node:path'
import { checkProjectPath } from '../fs/project-fs.js'
import type { FileIndex } from '../hash/file-index.js'
import type { ResultStore } from '../store/store.js'
import type { LockedJob, LockVerifier, WrittenLock } from './lock-file.js'

const HEX64 = /^[0-9a-f]{64}$/

/** Where a lock's entries can be checked: the project root (outputs on disk), the store, and the team store when there is one. */
export interface LockEvidence {
  root: string
  store: ResultStore
  fileIndex: FileIndex
  /**
   * Whether the team store has every one of these objects; false when there is none or it cannot
   * be asked. A teammate's lock names images only the team store has (outputs out of git).
   */
  remoteHas?: (hashes: readonly string[]) => Promise<boolean>
}

/**
 * The {@link LockVerifier} of a project. A lock text images-edit did not write is accepted when
 * each entry is accounted for: it is the entry images-edit last wrote, or its outputs are on disk
 * with the sha256 it names (a clone, a merge, a checkout: outputs are committed with the lock),
 * or the store has that take of that key with those images, or the team store has those images
 * (a teammate's build, with the outputs out of git). An entry the store contradicts, a
 * new entry nothing backs (once images-edit has written a lock here), or an entry removed while
 * its outputs are still on disk as written, is a hand edit.
 */
export function lockVerifier(evidence: LockEvidence): LockVerifier {
  return async (lock, written) => {
    const reasons = await Promise.all(Object.entries(lock.jobs).map(([id, entry]) => checkEntry(id, entry, written, evidence)))
    const reason = reasons.find((item) => item !== undefined)
    if (reason) return reason
    for (const [id, was] of Object.entries(written?.jobs ?? {})) {
      if (lock.jobs[id] || was.outputs.length === 0) continue
      if (await allOnDisk(was.outputs, evidence)) return `the entry for ${id} was removed, though its outputs are still on disk as images-edit wrote them`
    }
    return undefined
  }
}

async function checkEntry(id: string, entry: LockedJob, written: WrittenLock | undefined, evidence: LockEvidence): Promise<string | undefined> {
  const picked = await checkPicks(id, entry, evidence)
  if (picked) return picked
  const outputs = entry.outputs.map((output): [string, string] => [output.path, output.sha256])
  const was = written?.jobs[id]
  if (was && was.key === entry.key && was.take === entry.take && sameOutputs(was.outputs, outputs)) return undefined
  if (outputs.length > 0 && (await allOnDisk(outputs, evidence))) return undefined
  if (!HEX64.test(entry.key)) return `the entry for ${id} has a key that is not a sha256`
  const record = await evidence.store.getRecord(entry.key)
  const take = record?.takes.find((item) => item.take === entry.take)
  if (take && entry.outputs.every((output, index) => take.images[(output.image ?? index + 1) - 1]?.sha256 === output.sha256)) return undefined
  // Asked last, and only for a lock images-edit did not write here: the one check that needs the network.
  if (outputs.length > 0 && (await evidence.remoteHas?.(entry.outputs.map((output) => output.sha256)))) return undefined
  if (record) return `the entry for ${id} names images (take ${entry.take}) that neither the outputs on disk nor the store have for its key`
  if (written) return `the entry for ${id} is backed neither by its outputs on disk nor by the store`
  // A fresh clone without outputs (a remote store): nothing to check against.
  return undefined
}

function sameOutputs(a: readonly [string, string][], b: readonly [string, string][]): boolean {
  return a.length === b.length && a.every(([path, sha], index) => b[index]?.[0] === path && b[index]?.[1] === sha)
}

async function allOnDisk(outputs: readonly [string, string][], evidence: LockEvidence): Promise<boolean> {
  for (const [path, sha] of outputs) {
    // Hashed only where it really is inside the project.
    if (!(await checkProjectPath(evidence.root, path)).ok) return false
    const lookup = await evidence.fileIndex.lookup(join(evidence.root, path))
    if (!lookup.ok || lookup.info.sha256 !== sha) return false
  }
  return true
}

/**
 * An entry's picks must name images its take has (`image` ≤ `candidates`, or the outputs' count),
 * and, where the store has that take, the very image the store has there: images-edit never
 * writes otherwise, so anything else is a hand edit or a bad merge.
 */
async function checkPicks(id: string, entry: LockedJob, evidence: LockEvidence): Promise<string | undefined> {
  if (!entry.outputs.some((output) => output.image !== undefined)) return undefined
  const size = entry.candidates ?? entry.outputs.length
  const beyond = entry.outputs.find((output) => (output.image ?? 0) > size)
  if (beyond) return `the entry for ${id} picks image ${beyond.image} of take ${entry.take}, which has ${size}`
  if (!HEX64.test(entry.key)) return undefined
  const take = (await evidence.store.getRecord(entry.key))?.takes.find((item) => item.take === entry.take)
  const other = entry.outputs.find((output, index) => {
    const image = take?.images[(output.image ?? index + 1) - 1]
    return image !== undefined && image.sha256 !== output.sha256
  })
  return other ? `the entry for ${id} says ${other.path} is image ${other.image} of take ${entry.take}, which the store has with other bytes` : undefined
}
