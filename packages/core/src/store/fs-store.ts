import { access, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readBounded, readBoundedText } from '../fs/project-fs.js'
import { canonicalJson, sha256 } from '../hash/content-hash.js'
import { copyFileVerified, sweepTemporaryFiles, writeFileAtomic, writeStreamVerified } from './atomic-write.js'
import type { JobRecord, ResultStore } from './store.js'

const HEX64 = /^[0-9a-f]{64}$/

/**
 * The store in `.images-edit/` beside the manifest:
 *
 * ```
 * objects/ab/cdef…     output images by sha256
 * records/<key>.json   one record per job key, with a checksum of its content
 * ```
 *
 * Objects are written before the records that name them, so a record never points at nothing
 * after a crash; a damaged object or record is reported as missing and quietly replaced. Every
 * write goes through {@link writeFileAtomic}, whose temporary files {@link FileSystemStore.sweep}
 * removes once their writer is dead.
 */
export class FileSystemStore implements ResultStore {
  readonly objectsDir: string
  readonly recordsDir: string
  /**
   * Objects this instance wrote from verified bytes, by sha256, with the identity (inode, size,
   * mtime) the file had right after: while a file still has it, it holds those bytes, and
   * {@link copyObjectTo} copies it without hashing the copy again.
   */
  private readonly written = new Map<string, string>()

  /** The store's folder. */
  get location(): string {
    return this.dir
  }

  constructor(readonly dir: string) {
    this.objectsDir = join(dir, 'objects')
    this.recordsDir = join(dir, 'records')
  }

  /** The file an object of that sha256 is kept in (whether or not it is stored). */
  objectPath(hash: string): string {
    if (!HEX64.test(hash)) throw new TypeError(`not a sha256: ${hash}`)
    return join(this.objectsDir, hash.slice(0, 2), hash.slice(2))
  }

  private recordPath(key: string): string {
    if (!HEX64.test(key)) throw new TypeError(`not a job key: ${key}`)
    return join(this.recordsDir, `${key}.json`)
  }

  async hasObject(hash: string): Promise<boolean> {
    try {
      await access(this.objectPath(hash))
      return true
    } catch {
      return false
    }
  }

  async getObject(hash: string): Promise<Uint8Array | undefined> {
    let bytes: Buffer
    try {
      bytes = await readBounded(this.objectPath(hash), 'output')
    } catch {
      return undefined
    }
    if (sha256(bytes) !== hash) {
      await rm(this.objectPath(hash), { force: true })
      return undefined
    }
    return bytes
  }

  async putObject(bytes: Uint8Array, known?: string): Promise<string> {
    const hash = known ?? sha256(bytes)
    // Written again unless the stored copy is exactly these bytes: a damaged copy is replaced.
    const stored = await readBounded(this.objectPath(hash), 'output').catch(() => undefined)
    if (stored && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(stored)) return hash
    if (stored && known !== undefined && sha256(bytes) !== known) throw new TypeError(`putObject: ${known.slice(0, 12)} is not the sha256 of these bytes`)
    await writeFileAtomic(this.objectPath(hash), bytes)
    // `known` is trusted only as far as the refusal above: the bytes of a caller that verified them.
    const identity = await identityOf(this.objectPath(hash))
    if (identity) this.written.set(hash, identity)
    return hash
  }

  async putObjectFrom(source: AsyncIterable<Uint8Array>, hash: string): Promise<boolean> {
    const path = this.objectPath(hash)
    // Renamed over whatever is there only once verified: a damaged copy is replaced, a sound one
    // by the same bytes. Verified here, so `copyObjectTo` may trust the file while it is unchanged.
    if (!(await writeStreamVerified(path, source, hash))) return false
    const identity = await identityOf(path)
    if (identity) this.written.set(hash, identity)
    return true
  }

  async copyObjectTo(hash: string, target: string): Promise<boolean> {
    const path = this.objectPath(hash)
    const trusted = this.written.has(hash) && this.written.get(hash) === (await identityOf(path))
    const outcome = await copyFileVerified(path, hash, target, { trusted })
    // Damaged here: reported missing from now on, like getObject does, so a rerun replaces it.
    if (outcome === 'damaged') await rm(this.objectPath(hash), { force: true })
    return outcome === 'copied'
  }

  objectSize(hash: string): Promise<number | undefined> {
    return sizeOf(this.objectPath(hash))
  }

  async deleteObject(hash: string): Promise<void> {
    await rm(this.objectPath(hash), { force: true })
  }

  async listObjects(): Promise<string[]> {
    const result: string[] = []
    for (const prefix of await readdir(this.objectsDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue
      for (const rest of await readdir(join(this.objectsDir, prefix)).catch(() => [] as string[])) {
        if (HEX64.test(prefix + rest)) result.push(prefix + rest)
      }
    }
    return result.sort()
  }

  async getRecord(key: string): Promise<JobRecord | undefined> {
    let text: string
    try {
      text = await readBoundedText(this.recordPath(key), 'record')
    } catch {
      return undefined
    }
    try {
      const { checksum, ...record } = JSON.parse(text) as JobRecord & { checksum?: string }
      if (checksum !== sha256(canonicalJson(record)) || record.version !== 1 || record.key !== key || !Array.isArray(record.takes)) {
        return undefined
      }
      return record
    } catch {
      return undefined
    }
  }

  async putRecord(record: JobRecord): Promise<void> {
    const checksum = sha256(canonicalJson(record))
    await writeFileAtomic(this.recordPath(record.key), `${JSON.stringify({ ...record, checksum }, null, 2)}\n`)
  }

  recordSize(key: string): Promise<number | undefined> {
    return sizeOf(this.recordPath(key))
  }

  async deleteRecord(key: string): Promise<void> {
    await rm(this.recordPath(key), { force: true })
  }

  async listRecords(): Promise<string[]> {
    const names = await readdir(this.recordsDir).catch(() => [] as string[])
    return names
      .filter((name) => name.endsWith('.json') && HEX64.test(name.slice(0, -5)))
      .map((name) => name.slice(0, -5))
      .sort()
  }

  /** Removes temporary files left by a dead writer anywhere in the store (see {@link sweepTemporaryFiles}). */
  async sweep(): Promise<number> {
    let removed = await sweepTemporaryFiles(this.dir)
    removed += await sweepTemporaryFiles(this.recordsDir)
    for (const prefix of await readdir(this.objectsDir).catch(() => [] as string[])) {
      removed += await sweepTemporaryFiles(join(this.objectsDir, prefix))
    }
    return removed
  }
}

/** A file's identity: changes whenever the file is replaced or written (inode, size, mtime); undefined when it is not there. */
function identityOf(path: string): Promise<string | undefined> {
  return stat(path).then(
    (info) => `${info.ino}:${info.size}:${info.mtimeMs}`,
    () => undefined,
  )
}

/** Size of a file in bytes; undefined when it is not there. */
function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then(
    (info) => (info.isFile() ? info.size : undefined),
    () => undefined,
  )
}
