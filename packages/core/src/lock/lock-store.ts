// The lock on disk with its parse cache and the record of what images-edit last wrote (hand edits detected).
import { dirname, join } from 'node:path'
import { readCacheText, withFsErrors } from '../fs/project-fs.js'
import { canonicalJson, sha256 } from '../hash/content-hash.js'
import { writeFileAtomic } from '../store/atomic-write.js'
import type { LockFile } from './lock-file.js'
import { checkLockPaths, emptyLock, parseLock, readLockText } from './lock-read.js'
import { serializeLock } from './lock-serialize.js'

/** What {@link LockStore.read} knows about the lock on disk. */
export interface LockState {
  lock: LockFile
  /** The lock was edited by hand: it differs from how images-edit writes it, or its entries contradict what is on disk. */
  handEdited: boolean
  /** What gave the edit away, for the message. */
  editReason?: string
}

/** What images-edit remembers of the lock it last wrote (`.images-edit/lock-written.json`). */
export interface WrittenLock {
  /** sha256 of the lock text written (LF line endings). */
  sha256: string
  /** Per job: key, take and output paths with their sha256. */
  jobs: Record<string, { key: string; take: number; outputs: [path: string, sha256: string][] }>
}

/**
 * Checks a lock whose text is not the one images-edit last wrote (a fresh clone, a git merge or
 * checkout, or a hand edit) against the store and the outputs on disk. Returns why it looks edited
 * by hand, or undefined when every entry is accounted for.
 */
export type LockVerifier = (lock: LockFile, written: WrittenLock | undefined) => Promise<string | undefined>

const CACHE_VERSION = 2

/**
 * The lock with a parse cache: YAML is slow to parse and write for thousands of jobs, so the
 * parsed lock is kept in `.images-edit/lock-cache.json` keyed by the sha256 of the lock's text,
 * and a lock whose content did not change is not serialized again.
 *
 * Hand edits are detected for real: images-edit remembers the hash of the text it last wrote
 * (`.images-edit/lock-written.json`). Any other text — reformatted, or well-formed with a wrong
 * sha256, an added or a removed entry — is checked by the {@link LockVerifier} against the store
 * and the outputs on disk; a lock whose entries all verify (a fresh clone, a merge) is accepted.
 */
export class LockStore {
  /**
   * The last state read or written, by text hash: one build reads the lock several times. `checked`:
   * the `allowOutside` its paths were last checked under (the check is not repeated for the same text).
   */
  private last: { textHash: string; state: LockState; checked?: boolean } | undefined
  /** The manifest's `security.allowOutsideProject`: lock paths outside the project are refused otherwise. */
  allowOutside = false
  /** Set by the project: checks a lock text images-edit did not write itself. */
  verify: LockVerifier | undefined
  private readonly writtenPath: string

  constructor(
    readonly path: string,
    private readonly cachePath: string,
  ) {
    this.writtenPath = join(dirname(cachePath), 'lock-written.json')
  }

  async read(): Promise<LockState> {
    const text = await readLockText(this.path)
    if (text === undefined) return { lock: emptyLock(), handEdited: false }
    const normalized = text.replace(/\r\n/g, '\n')
    const textHash = sha256(normalized)
    if (this.last?.textHash === textHash && this.last.checked === this.allowOutside) return this.last.state
    const state = await this.stateOf(normalized, textHash)
    checkLockPaths(this.path, state.lock, this.allowOutside)
    if (this.last?.state === state) this.last.checked = this.allowOutside
    return state
  }

  /** The text hash and entries of the lock last read or written, when it was not edited by hand (what `PlanSnapshot` remembers). */
  lastRead(): { textHash: string; lock: LockFile } | undefined {
    return this.last && !this.last.state.handEdited ? { textHash: this.last.textHash, lock: this.last.state.lock } : undefined
  }

  /**
   * Takes `lock` as the parsed, verified lock whose text hashes to `textHash`, its paths already
   * checked (`PlanSnapshot`: the lock of a remembered no-op, whose file has not moved since).
   * Only a shortcut: a lock text with another hash is read as usual.
   */
  prime(textHash: string, lock: LockFile): void {
    this.last = { textHash, state: { lock, handEdited: false }, checked: this.allowOutside }
  }

  private async stateOf(normalized: string, textHash: string): Promise<LockState> {
    if (this.last?.textHash === textHash) return this.last.state
    const cached = await this.readCache(textHash)
    if (cached) {
      this.last = { textHash, state: cached }
      return cached
    }
    const lock = parseLock(this.path, normalized)
    checkLockPaths(this.path, lock, this.allowOutside)
    let state: LockState
    if (normalized !== serializeLock(lock)) {
      state = { lock, handEdited: true, editReason: 'it differs from how images-edit writes it' }
    } else {
      const written = await this.readWritten()
      const reason = written?.sha256 === textHash ? undefined : await this.verify?.(lock, written)
      state = reason === undefined ? { lock, handEdited: false } : { lock, handEdited: true, editReason: reason }
      // A lock that verifies (a clone, a merge) is the one later edits are compared with.
      if (reason === undefined && written?.sha256 !== textHash && this.verify) await this.writeWritten(textHash, lock).catch(() => {})
    }
    // A verdict of "edited by hand" is not kept on disk: new evidence (a pull, a team store) may
    // account for the lock on the next run.
    if (!state.handEdited) await this.writeCache(textHash, state)
    this.last = { textHash, state }
    return state
  }

  /** Writes the lock if its content changed; false when it was already what `lock` says. */
  async write(lock: LockFile, current?: LockState): Promise<boolean> {
    if (current && !current.handEdited && sameContent(current.lock, lock)) return false
    const text = serializeLock(lock)
    const existing = await readLockText(this.path).catch(() => undefined)
    if (existing === text) {
      // A lock taken as edited by hand that already says what it should (`--force-lock` on it):
      // its text is remembered as ours, or every later run would refuse it again.
      if (current?.handEdited) await this.remember(sha256(text), lock)
      return false
    }
    await withFsErrors(
      {
        path: this.path,
        doing: 'writing the lock',
        after: `Every image already made is kept in the store (.images-edit/); once fixed, rerun \`images-edit build\`: it finishes the lock at no cost.`,
      },
      () => writeFileAtomic(this.path, text),
    )
    await this.remember(sha256(text), lock)
    return true
  }

  /** Remembers `textHash` as the text images-edit wrote (so the next run knows it is ours; without it the lock is verified). */
  private async remember(textHash: string, lock: LockFile): Promise<void> {
    await this.writeWritten(textHash, lock).catch(() => {})
    const state = { lock, handEdited: false }
    await this.writeCache(textHash, state)
    this.last = { textHash, state }
  }

  private async readWritten(): Promise<WrittenLock | undefined> {
    try {
      const value = JSON.parse((await readCacheText(this.writtenPath)) ?? '') as Partial<WrittenLock>
      return typeof value.sha256 === 'string' && value.jobs && typeof value.jobs === 'object' ? (value as WrittenLock) : undefined
    } catch {
      return undefined
    }
  }

  private async writeWritten(textHash: string, lock: LockFile): Promise<void> {
    const jobs: WrittenLock['jobs'] = {}
    for (const [id, entry] of Object.entries(lock.jobs)) {
      jobs[id] = { key: entry.key, take: entry.take, outputs: entry.outputs.map((output) => [output.path, output.sha256]) }
    }
    await writeFileAtomic(this.writtenPath, JSON.stringify({ sha256: textHash, jobs } satisfies WrittenLock))
  }

  private async readCache(textHash: string): Promise<LockState | undefined> {
    try {
      const cache = JSON.parse((await readCacheText(this.cachePath)) ?? '') as { version?: number; sha256?: string } & Partial<LockState>
      if (cache.version !== CACHE_VERSION || cache.sha256 !== textHash || !cache.lock || typeof cache.handEdited !== 'boolean') return undefined
      return { lock: cache.lock, handEdited: cache.handEdited, ...(cache.editReason ? { editReason: cache.editReason } : {}) }
    } catch {
      return undefined
    }
  }

  private async writeCache(textHash: string, state: LockState): Promise<void> {
    // Only a cache: when it cannot be written the next run parses the YAML again.
    await writeFileAtomic(this.cachePath, JSON.stringify({ version: CACHE_VERSION, sha256: textHash, ...state })).catch(() => {})
  }
}

/** Deep equality of two locks: a plain JSON comparison first (same key order, the common case), else canonical. */
function sameContent(a: LockFile, b: LockFile): boolean {
  return JSON.stringify(a) === JSON.stringify(b) || canonicalJson(a) === canonicalJson(b)
}
