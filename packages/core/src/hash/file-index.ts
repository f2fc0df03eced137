// The stat-cached index of file hashes and image headers (image facts themselves: image-meta.ts).
import { createHash } from 'node:crypto'
import type { Stats } from 'node:fs'
import { lstatSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { isAbsolute, relative } from 'node:path'
import pLimit from 'p-limit'
import { readCacheText } from '../fs/project-fs.js'
import { writeFileAtomic } from '../store/atomic-write.js'
import { hashOnWorker, WORKER_HASH_BYTES } from './hash-workers.js'
import { fullyDecodes, headerMeta, type ImageMeta, readImageMeta } from './image-meta.js'

export { headerMeta, type ImageMeta, imageDimensions, MAX_INPUT_PIXELS, readImageMeta } from './image-meta.js'

/** What images-edit knows about a file on disk. */
export interface FileInfo {
  size: number
  sha256: string
  /** Image header facts, when asked for and the file is an image sharp can read. */
  image?: ImageMeta
  /** The path itself is a symbolic link (its target's facts are given). */
  symlink?: true
}

/** Outcome of looking a file up. */
export type FileLookup = { ok: true; info: FileInfo } | { ok: false; reason: 'missing' | 'not-a-file' | 'unreadable'; message: string }

/** One stat-cache row: identity of the file, then what was learnt from its bytes. */
interface CacheEntry {
  size: number
  /** Milliseconds with a fractional part: a double keeps sub-microsecond precision for today's dates. */
  mtimeMs: number
  ctimeMs: number
  ino: number
  sha256: string
  image?: ImageMeta
  /** sha256 of the bytes sharp fully decoded without error (so reruns do not decode again). */
  decoded?: string
  /**
   * Set when the file changed within the timestamp granularity of when it was hashed (git's
   * "racily clean" case): a later write in the same tick could keep size and times identical,
   * so the entry is not trusted and the file is hashed again next time.
   */
  racy?: true
}

const CACHE_VERSION = 2
/** Coarsest mtime granularity we guard against (FAT has 2 s; most file systems are finer). */
export const RACY_WINDOW_MS = 2_000

/**
 * Content hashes and image headers of files, cached by file identity (size, mtime, ctime,
 * inode) the way git's index caches blob ids, so an unchanged project is checked with `stat`
 * calls only and reads no image bytes.
 */
export class FileIndex {
  private entries = new Map<string, CacheEntry>()
  private pending = new Map<string, Promise<FileLookup>>()
  /** A few files at a time: hundreds of parallel reads only thrash the disk and the thread pool. */
  private readonly hashLimit = pLimit(8)
  /** Answers of the current pass: a file looked up many times (a ref shared by recipes) is stat-ed once. */
  private memo = new Map<string, FileLookup>()
  private dirty = false
  /** How many files were hashed (read) by this index — observable for tests and benchmarks. */
  hashed = 0

  /**
   * @param root folder the cache keys are relative to (the project root)
   * @param cachePath where the cache is persisted, or undefined for a memory-only index
   */
  constructor(
    private readonly root: string,
    private readonly cachePath: string | undefined,
  ) {}

  /**
   * Loads the persisted cache; a missing or damaged cache is simply empty. Read once, on the first
   * lookup (or this call): a build that needs no lookup at all (a remembered no-op, `PlanSnapshot`)
   * never parses it.
   */
  load(): Promise<void> {
    this.loading ??= this.readCache()
    return this.loading
  }

  private loading: Promise<void> | undefined
  /** The cache has been read (or there is none to read). */
  private ready = false
  /** Paths forgotten before the cache was read: not taken from it. */
  private forgotten = new Set<string>()

  private async readCache(): Promise<void> {
    if (!this.cachePath) {
      this.ready = true
      return
    }
    try {
      const parsed = JSON.parse((await readCacheText(this.cachePath)) ?? '') as { version?: number; entries?: Record<string, CacheEntry> }
      if (parsed.version === CACHE_VERSION && parsed.entries && typeof parsed.entries === 'object') {
        this.entries = new Map(Object.entries(parsed.entries))
      }
    } catch {
      this.entries = new Map()
    }
    for (const key of this.forgotten) if (this.entries.delete(key)) this.dirty = true
    this.forgotten.clear()
    this.ready = true
  }

  /** Persists the cache if anything changed. */
  async save(): Promise<void> {
    if (!this.cachePath || !this.dirty || !this.loading) return
    await this.loading
    const entries = Object.fromEntries([...this.entries].sort(([a], [b]) => (a < b ? -1 : 1)))
    // Only a cache: when it cannot be written (a read-only or full disk) the next run hashes again.
    await writeFileAtomic(this.cachePath, JSON.stringify({ version: CACHE_VERSION, entries })).then(
      () => {
        this.dirty = false
      },
      () => {},
    )
  }

  /** Forgets a path (after images-edit itself rewrote it, for instance). */
  forget(path: string): void {
    this.memo.delete(`b:${path}`)
    this.memo.delete(`i:${path}`)
    const key = this.keyOf(path)
    if (!this.ready) this.forgotten.add(key)
    else if (this.entries.delete(key)) this.dirty = true
  }

  /** The file as it is now: stat-ed again even within a pass (its hash read only when its identity changed). */
  recheck(path: string, options: { image?: boolean } = {}): Promise<FileLookup> {
    this.memo.delete(`b:${path}`)
    this.memo.delete(`i:${path}`)
    return this.lookup(path, options)
  }

  /**
   * Starts a new pass: files are stat-ed again. Within a pass (one manifest load and plan) each
   * file is looked at once, however many recipes use it.
   */
  beginPass(): void {
    this.memo.clear()
  }

  /** Absolute paths of the files this pass looked up and found (what a plan was made from: `PlanSnapshot`). */
  passPaths(): string[] {
    const paths = new Set<string>()
    for (const [key, result] of this.memo) if (result.ok) paths.add(key.slice(2))
    return [...paths]
  }

  /**
   * Hash (and with `image: true`, image header) of the file at an absolute path. Concurrent
   * lookups of the same path share one read.
   */
  lookup(path: string, options: { image?: boolean } = {}): Promise<FileLookup> {
    const pendingKey = `${options.image ? 'i' : 'b'}:${path}`
    const known = this.memo.get(pendingKey) ?? (options.image ? undefined : this.memo.get(`i:${path}`))
    if (known) return Promise.resolve(known)
    let promise = this.pending.get(pendingKey)
    if (!promise) {
      promise = this.lookupUncached(path, options.image ?? false).then(
        (result) => {
          this.pending.delete(pendingKey)
          this.memo.set(pendingKey, result)
          return result
        },
        (error: unknown) => {
          this.pending.delete(pendingKey)
          throw error
        },
      )
      this.pending.set(pendingKey, promise)
    }
    return promise
  }

  /**
   * Whether the file with these bytes (`sha256`, from {@link lookup}) decodes fully with sharp —
   * every pixel, not just the header: a truncated PNG has a sound header. Remembered per sha256 in
   * the stat cache, so a ref is decoded once, not on every run. Returns the decoder's complaint
   * when it fails.
   */
  async decodes(path: string, sha256: string): Promise<{ ok: true } | { ok: false; message: string }> {
    await this.load()
    const key = this.keyOf(path)
    if (this.entries.get(key)?.decoded === sha256) return { ok: true }
    const result = await this.hashLimit(() => fullyDecodes(path))
    const entry = this.entries.get(key)
    if (result.ok && entry && entry.sha256 === sha256) {
      entry.decoded = sha256
      this.dirty = true
    }
    return result
  }

  private keyOf(path: string): string {
    const key = relative(this.root, path)
    return key.startsWith('..') || isAbsolute(key) ? path : key.split('\\').join('/')
  }

  private async lookupUncached(path: string, wantImage: boolean): Promise<FileLookup> {
    let stats: Stats
    let symlink: true | undefined
    try {
      // lstat first: one call for an ordinary file, and we learn whether the path is a link.
      // Synchronous on purpose: a stat takes microseconds, and a no-op build over tens of
      // thousands of files spends far longer dispatching them to the thread pool and back (git
      // stats its index synchronously too). Plain, not bigint, stats: BigInt costs as much again.
      stats = lstatSync(path)
      if (stats.isSymbolicLink()) {
        symlink = true
        stats = statSync(path)
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, reason: 'missing', message: 'no such file' }
      return { ok: false, reason: 'unreadable', message: (error as Error).message }
    }
    if (!stats.isFile()) return { ok: false, reason: 'not-a-file', message: 'not a regular file' }

    await this.load()
    const key = this.keyOf(path)
    const cached = this.entries.get(key)
    if (
      cached &&
      !cached.racy &&
      cached.size === stats.size &&
      cached.mtimeMs === stats.mtimeMs &&
      cached.ctimeMs === stats.ctimeMs &&
      cached.ino === stats.ino &&
      (!wantImage || cached.image)
    ) {
      return {
        ok: true,
        info: { size: stats.size, sha256: cached.sha256, ...(cached.image ? { image: cached.image } : {}), ...(symlink ? { symlink } : {}) },
      }
    }

    const hashedAt = Date.now()
    let sha: string
    let head: Buffer
    try {
      ;({ sha256: sha, head } = await this.hashLimit(() => (stats.size >= WORKER_HASH_BYTES ? hashOnWorker(path) : hashWithHead(path))))
    } catch (error) {
      return { ok: false, reason: 'unreadable', message: (error as Error).message }
    }
    this.hashed++
    let image = cached && cached.sha256 === sha ? cached.image : undefined
    // The header is in the bytes we just hashed; sharp is only asked when that is not enough.
    if (wantImage && !image) image = headerMeta(head) ?? (await readImageMeta(path))
    const entry: CacheEntry = {
      size: stats.size,
      mtimeMs: stats.mtimeMs,
      ctimeMs: stats.ctimeMs,
      ino: stats.ino,
      sha256: sha,
      ...(image ? { image } : {}),
      ...(cached?.decoded === sha ? { decoded: sha } : {}),
    }
    if (stats.mtimeMs + RACY_WINDOW_MS >= hashedAt) entry.racy = true
    this.entries.set(key, entry)
    this.dirty = true
    return { ok: true, info: { size: stats.size, sha256: sha, ...(image ? { image } : {}), ...(symlink ? { symlink } : {}) } }
  }
}

/**
 * sha256 of a file's bytes, keeping its first chunk (where every image header is). Reads into
 * one buffer with plain `read` calls rather than a stream: no per-chunk allocation, so hashing
 * a fresh clone's gigabytes runs close to the speed of the hash itself.
 */
const spareBuffers: Buffer[] = []

async function hashWithHead(path: string): Promise<{ sha256: string; head: Buffer }> {
  const hash = createHash('sha256')
  // Reused: a fresh 1 MiB buffer per file would leave the garbage collector thousands of them.
  const buffer = spareBuffers.pop() ?? Buffer.allocUnsafe(1 << 20)
  let head: Buffer | undefined
  const handle = await open(path, 'r').catch((error: unknown) => {
    spareBuffers.push(buffer)
    throw error
  })
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      head ??= Buffer.from(buffer.subarray(0, Math.min(bytesRead, 1 << 16)))
      hash.update(buffer.subarray(0, bytesRead))
    }
  } finally {
    await handle.close()
    spareBuffers.push(buffer)
  }
  return { sha256: hash.digest('hex'), head: head ?? Buffer.alloc(0) }
}
