// The read-through's downloads: objects copied from the team store into the local store, each verified by its sha256 before it is visible there.
import type { ResultStore } from '../store/store.js'

/** Copies objects from the remote into the local store, each verified by its sha256; false when one is not there. */
export async function fetchAll(local: ResultStore, remote: ResultStore, hashes: readonly string[]): Promise<boolean> {
  for (const hash of hashes) {
    if (await local.hasObject(hash)) continue
    if (!(await fetchOne(local, remote, hash))) return false
  }
  return true
}

/** A remote that can hand out an object's bytes as they arrive (the S3 store). */
interface StreamingSource {
  streamObject(sha256: string): Promise<AsyncIterable<Uint8Array> | undefined>
}

/** Downloads of one object begun again when the body is cut short mid-way (the client retries up to the first byte). */
const STREAM_ATTEMPTS = 3

/**
 * One object into the local store, verified by its sha256 before it is visible there. From a
 * streaming remote the download goes straight into the store's temporary file, hashed chunk by
 * chunk: no 4 MB buffer per object to allocate and collect, and one pass over the bytes.
 */
async function fetchOne(local: ResultStore, remote: ResultStore, hash: string): Promise<boolean> {
  if (typeof (remote as Partial<StreamingSource>).streamObject !== 'function') {
    const bytes = await remote.getObject(hash)
    // Verified against `hash` on download: not hashed again.
    return bytes !== undefined && (await local.putObject(bytes, hash)) === hash
  }
  for (let attempt = 1; ; attempt++) {
    // Retried by the client itself until the answer starts; only a body cut short is retried here.
    const body = await (remote as unknown as StreamingSource).streamObject(hash)
    if (!body) return false
    try {
      // Bytes that do not hash to `hash` (damaged in the bucket, tampered with) are not stored: as if missing.
      return await local.putObjectFrom(body, hash)
    } catch (error) {
      if (attempt >= STREAM_ATTEMPTS) throw error
    }
  }
}
