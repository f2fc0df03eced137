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
  takes: TakeRecord[]
}

/**
 * Where results live. Objects are addressed by their sha256; records by job key. Implementations
 * must make every write atomic and must never return a damaged entry: a reader gets the exact
 * bytes that were put, or nothing. A remote store for teams and CI can implement this later
 * without touching the runner.
 */
export interface ResultStore {
  hasObject(sha256: string): Promise<boolean>
  /** The object's bytes, verified against their hash; undefined when missing or damaged. */
  getObject(sha256: string): Promise<Uint8Array | undefined>
  /** Stores bytes and returns their sha256. */
  putObject(bytes: Uint8Array): Promise<string>
  deleteObject(sha256: string): Promise<void>
  listObjects(): Promise<string[]>
  /** The record of a key, verified; undefined when missing or damaged. */
  getRecord(key: string): Promise<JobRecord | undefined>
  putRecord(record: JobRecord): Promise<void>
  deleteRecord(key: string): Promise<void>
  listRecords(): Promise<string[]>
}
