import type { OutputFormat } from '../providers/provider.js'

/** One stored output image. */
export interface ImageRecord {
  /** sha256 of the encoded bytes; the object's name in the store. */
  sha256: string
  width: number
  height: number
  format: OutputFormat
  bytes: number
}

/** One provider call that produced images for a take. */
export interface RunRecord {
  /** ISO time the images were stored. */
  at: string
  provider: string
  model: string
  /** Index of the first image this call produced within the take. */
  firstIndex: number
  count: number
  taskId?: string
  usage?: Record<string, unknown>
  /**
   * What these images were estimated to cost when they were stored, at the prices of that run
   * (output images only); absent when no price was known, for a free provider, and in records
   * older than estimates.
   */
  estimate?: { amount: number; currency: string }
  /** The job that ran it, so its cost stays with its recipe after the recipe changes (absent in older records). */
  job?: string
  revisedPrompt?: string
  warnings: string[]
}

/** A take: one pinned series of images for a key. `--force` starts a new take. */
export interface TakeRecord {
  take: number
  images: ImageRecord[]
  runs: RunRecord[]
}

/** Everything known about the results of one job key. */
export interface JobRecord {
  version: 1
  key: string
  provider: string
  model: string
  /** The take used when the lock does not say otherwise (the newest unless picked). */
  selectedTake: number
  /** The last pick (`images-edit pick`): which images (1-based) of which take the outputs are; absent for the first ones. */
  picked?: { take: number; images: number[] }
  takes: TakeRecord[]
}

/**
 * Where results live: everything the build needs from a store, and all it may assume. Objects
 * (image bytes) are addressed by their sha256; records by job key (a sha256 too). The build, the
 * runner, the lock check and `gc` use only this interface; `FileSystemStore` (`.images-edit/`)
 * is one implementation, and a shared remote store for teams and CI is meant to be another. Every
 * implementation runs the conformance suite `testResultStore` (`store/store-conformance.ts`).
 *
 * The contract:
 * - **Atomic writes.** A reader, in this process or another, gets the exact bytes that were put,
 *   or nothing (or, for a record being replaced, the previous record). A writer killed mid-write
 *   leaves at most leftovers that {@link ResultStore.sweep} removes, never a visible entry.
 * - **Verified reads.** A damaged object or record (bit rot, a truncated file, a hand edit) is
 *   never returned: it reads as missing, and putting it again repairs it.
 * - **Idempotent, concurrent puts.** Putting the same object or record again, at the same time
 *   from two instances (two processes) on the same storage, is harmless.
 * - **Durable.** Once a put has resolved, a new instance on the same storage (after a crash or a
 *   restart) sees it.
 */
export interface ResultStore {
  /** Where the store keeps its data, for messages: a folder or a URL. */
  readonly location: string

  /**
   * Whether an object of that sha256 is stored. A cheap check that need not read the bytes: an
   * object damaged since it was stored may still count until {@link ResultStore.getObject} finds
   * the damage; from then on it reads as missing.
   */
  hasObject(sha256: string): Promise<boolean>
  /** The object's bytes, verified against their hash; undefined when missing or damaged. */
  getObject(sha256: string): Promise<Uint8Array | undefined>
  /**
   * Stores bytes (atomically; a damaged copy already there is replaced) and returns their sha256.
   * `sha256`: the hash of these very bytes, when the caller has just computed it (bytes verified
   * on download): the store need not hash them again. Given wrongly, the bytes either land under a
   * name no copy had yet, which every read then rejects as damaged, or — when a copy is already
   * stored there and differs — are hashed after all and refused (a TypeError): a good copy is
   * never replaced by them.
   */
  putObject(bytes: Uint8Array, sha256?: string): Promise<string>
  /**
   * Stores the bytes `source` yields as the object `sha256`, atomically, only if they hash to it:
   * hashed as they arrive, so no whole-object buffer is needed (a download streamed into the store).
   * False when they do not match: nothing is stored and nothing is left behind (a copy already
   * stored stays as it was). A failing `source` or write throws, leaving nothing visible either.
   */
  putObjectFrom(source: AsyncIterable<Uint8Array>, sha256: string): Promise<boolean>
  /**
   * Writes a verified object to a local file, atomically: the target then holds either its
   * previous content or the complete object, never a part, whatever fails. False (target
   * untouched) when the object is missing or damaged; a failing write throws.
   */
  copyObjectTo(sha256: string, target: string): Promise<boolean>
  /** Bytes the object takes in the store (what deleting it frees); undefined when it is not stored. */
  objectSize(sha256: string): Promise<number | undefined>
  /** Removes an object; no error when it is not there. */
  deleteObject(sha256: string): Promise<void>
  /** sha256 of every stored object, sorted. Never names a leftover of an interrupted write. */
  listObjects(): Promise<string[]>

  /** The record of a key, verified; undefined when missing or damaged. */
  getRecord(key: string): Promise<JobRecord | undefined>
  /** Stores (or replaces) the record of `record.key`, atomically. */
  putRecord(record: JobRecord): Promise<void>
  /** Bytes the record takes in the store; undefined when there is none. */
  recordSize(key: string): Promise<number | undefined>
  /** Removes a record; no error when it is not there. */
  deleteRecord(key: string): Promise<void>
  /**
   * Keys of every stored record, sorted. Never names a leftover of an interrupted write; may name
   * a damaged record, which {@link ResultStore.getRecord} then reports as missing (`gc` drops it).
   */
  listRecords(): Promise<string[]>

  /**
   * Removes leftovers of writers that died mid-write (`kill -9`, power loss); never a complete
   * entry, and never the in-progress write of a live writer. Returns how many were removed.
   */
  sweep(): Promise<number>
}
