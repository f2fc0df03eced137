import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { canonicalJson, sha256 } from '../hash/content-hash.js'
import { copyVerifiedTo } from '../store/atomic-write.js'
import type { JobRecord, ResultStore } from '../store/store.js'
import type { S3Client } from './s3-client.js'

const HEX64 = /^[0-9a-f]{64}$/

/** Options of {@link S3Store}. */
export interface S3StoreOptions {
  /**
   * The team key records are signed with (HMAC-SHA256). Without it no record is trusted or
   * written; objects, named by their sha256, still are.
   */
  signingKey?: string
  /** Told once for each record ignored because its signature is missing or wrong. */
  onWarning?: (message: string) => void
}

/**
 * A {@link ResultStore} in an S3-compatible bucket, laid out like the file-system store under the
 * configured prefix:
 *
 * ```
 * <prefix>/objects/ab/cdef…     output images by sha256
 * <prefix>/records/<key>.json   one record per job key, signed with the team key
 * ```
 *
 * An S3 PUT is atomic (a reader sees the whole new object or the old one, and a PUT cut short
 * stores nothing), so a writer killed mid-write leaves nothing to sweep. Objects are verified by
 * their sha256 on every read; records by their signature, so write access to the bucket alone
 * cannot put images into anyone's build. A damaged object is not deleted from the shared bucket
 * (a reader may have no right to, and a teammate's put repairs it): this instance reports it as
 * missing from then on, and a put replaces it.
 */
export class S3Store implements ResultStore {
  private readonly damaged = new Set<string>()
  private readonly warned = new Set<string>()

  constructor(
    private readonly client: S3Client,
    private readonly options: S3StoreOptions = {},
  ) {}

  get location(): string {
    const { bucket, prefix } = this.client.location
    return `s3://${bucket}${prefix ? `/${prefix}` : ''}`
  }

  private objectKey(hash: string): string {
    if (!HEX64.test(hash)) throw new TypeError(`not a sha256: ${hash}`)
    return this.client.key(`objects/${hash.slice(0, 2)}/${hash.slice(2)}`)
  }

  private recordKey(key: string): string {
    if (!HEX64.test(key)) throw new TypeError(`not a job key: ${key}`)
    return this.client.key(`records/${key}.json`)
  }

  async hasObject(hash: string): Promise<boolean> {
    if (this.damaged.has(hash)) return false
    return (await this.client.head(this.objectKey(hash))) !== undefined
  }

  async getObject(hash: string): Promise<Uint8Array | undefined> {
    const bytes = await this.client.get(this.objectKey(hash))
    if (!bytes) return undefined
    if (sha256(bytes) !== hash) {
      this.damaged.add(hash)
      return undefined
    }
    this.damaged.delete(hash)
    return bytes
  }

  async putObject(bytes: Uint8Array, known?: string): Promise<string> {
    const hash = known ?? sha256(bytes)
    const key = this.objectKey(hash)
    // Skipped only when the stored copy is certainly these bytes: same size, not found damaged
    // here, and (where the server's ETag is an MD5 we can check, plain or multipart) the same.
    const stored = this.damaged.has(hash) ? undefined : await this.client.head(key)
    const same = stored !== undefined && stored.size === bytes.byteLength && this.client.etagMatches(stored.etag, bytes) !== false
    // A copy is there and these bytes differ from it: a trusted hash is checked before replacing it.
    if (!same && stored !== undefined && known !== undefined && sha256(bytes) !== known) {
      throw new TypeError(`putObject: ${known.slice(0, 12)} is not the sha256 of these bytes`)
    }
    if (!same) await this.client.put(key, bytes)
    this.damaged.delete(hash)
    return hash
  }

  async putObjectFrom(source: AsyncIterable<Uint8Array>, hash: string): Promise<boolean> {
    // A PUT needs its length and Content-MD5 up front: gathered, verified, then put as any object.
    const chunks: Uint8Array[] = []
    const digest = createHash('sha256')
    for await (const chunk of source) {
      digest.update(chunk)
      chunks.push(chunk)
    }
    if (digest.digest('hex') !== hash) return false
    await this.putObject(Buffer.concat(chunks), hash)
    return true
  }

  /**
   * The object's bytes as they arrive, NOT verified (undefined when there is none): for a
   * store's {@link ResultStore.putObjectFrom}, which verifies them as it writes. A body cut short
   * makes the iteration throw.
   */
  streamObject(hash: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    return this.client.getStream(this.objectKey(hash))
  }

  copyObjectTo(hash: string, target: string): Promise<boolean> {
    return copyVerifiedTo(() => this.getObject(hash), target)
  }

  async objectSize(hash: string): Promise<number | undefined> {
    return (await this.client.head(this.objectKey(hash)))?.size
  }

  async deleteObject(hash: string): Promise<void> {
    await this.client.delete(this.objectKey(hash))
    this.damaged.delete(hash)
  }

  async listObjects(): Promise<string[]> {
    const prefix = this.client.key('objects/')
    return (await this.client.list(prefix))
      .map((entry) => entry.key.slice(prefix.length).replace('/', ''))
      .filter((hash) => HEX64.test(hash))
      .sort()
  }

  async getRecord(key: string): Promise<JobRecord | undefined> {
    const bytes = await this.client.get(this.recordKey(key))
    if (!bytes) return undefined
    let parsed: JobRecord & { signature?: unknown }
    try {
      parsed = JSON.parse(new TextDecoder().decode(bytes))
    } catch {
      this.warn(key, 'it is not valid JSON (cut short or damaged)')
      return undefined
    }
    const { signature, ...record } = parsed
    if (record.version !== 1 || record.key !== key || !Array.isArray(record.takes)) {
      this.warn(
        key,
        record.version !== 1 ? `it has version ${JSON.stringify(record.version)}, which this images-edit does not read` : 'it is not a record of that key',
      )
      return undefined
    }
    if (!this.trusted(record, signature)) {
      this.warn(key, this.options.signingKey ? 'its signature does not match the team key' : 'no team key is set (IMAGES_EDIT_REMOTE_KEY)')
      return undefined
    }
    return record
  }

  async putRecord(record: JobRecord): Promise<void> {
    const signature = this.sign(record)
    if (!signature) throw new Error(`records are not written to ${this.location} without the team key: set IMAGES_EDIT_REMOTE_KEY`)
    await this.client.put(this.recordKey(record.key), new TextEncoder().encode(`${JSON.stringify({ ...record, signature }, null, 2)}\n`), 'application/json')
  }

  async recordSize(key: string): Promise<number | undefined> {
    return (await this.client.head(this.recordKey(key)))?.size
  }

  async deleteRecord(key: string): Promise<void> {
    await this.client.delete(this.recordKey(key))
  }

  async listRecords(): Promise<string[]> {
    const prefix = this.client.key('records/')
    return (await this.client.list(prefix))
      .map((entry) => entry.key.slice(prefix.length))
      .filter((name) => name.endsWith('.json') && HEX64.test(name.slice(0, -5)))
      .map((name) => name.slice(0, -5))
      .sort()
  }

  /** Single PUTs are atomic on S3: a writer killed mid-write leaves nothing behind to remove. */
  async sweep(): Promise<number> {
    return 0
  }

  private sign(record: JobRecord): string | undefined {
    const { signingKey } = this.options
    return signingKey ? createHmac('sha256', signingKey).update(canonicalJson(record)).digest('hex') : undefined
  }

  private trusted(record: JobRecord, signature: unknown): boolean {
    const expected = this.sign(record)
    if (!expected || typeof signature !== 'string' || signature.length !== expected.length) return false
    return timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  }

  private warn(key: string, why: string): void {
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.options.onWarning?.(`the record of job key ${key.slice(0, 12)} in ${this.location} is ignored: ${why}`)
  }
}
