// What `gc` reports: the records, takes, images and output files it deletes (or, with dryRun, would delete), with their bytes.

/** What `gc` removes, or with `dryRun` would remove: the same lists and byte counts either way. */
export interface GcReport {
  /** Keys of the result records deleted: no job of the manifest or the lock has that key. */
  records: string[]
  /** Those records described for people (a key names no recipe): what they held, and when. */
  results: GcResult[]
  /** Takes deleted from records that stay: every take but the ones the lock uses. */
  takes: GcTake[]
  /** sha256 of the stored images deleted. */
  objects: string[]
  /** Output files deleted, relative to the manifest's folder. */
  outputs: string[]
  /** Bytes of the files deleted from `.images-edit/` (images and records). The same figure with `dryRun`. */
  bytes: number
  /** Bytes of the output files deleted. */
  outputBytes: number
}

/** A result record `gc` deletes. */
export interface GcResult {
  key: string
  /** Unknown when the record is damaged. */
  provider?: string
  model?: string
  /** Images it holds, over all its takes. */
  images: number
  /** When its newest images were stored (ISO time). */
  storedAt?: string
  /** Output files images-edit last wrote with one of its images (from the output ledger). */
  outputs: string[]
  /** Bytes it frees: the record and the images no other deleted entry was counted for. */
  bytes: number
}

/** An old take `gc` deletes from a record that stays. */
export interface GcTake {
  key: string
  take: number
  /** Ids of the jobs with that key, from the lock and the manifest. */
  jobs: string[]
  /** The takes of that key that stay. */
  kept: number[]
  images: number
  /** Bytes of the images only this take held. */
  bytes: number
}
