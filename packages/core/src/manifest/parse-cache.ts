// The manifest parse cache: manifests that passed the YAML and schema checks, by content hash.
import { readCacheText } from '../fs/project-fs.js'
import { writeFileAtomic } from '../store/atomic-write.js'

const PARSE_CACHE_VERSION = 1

/** The value cached for exactly this text hash, or undefined (no cache, another text, unreadable). */
export async function readParseCache(path: string, textHash: string): Promise<unknown> {
  try {
    const cache = JSON.parse((await readCacheText(path)) ?? '') as { version?: number; sha256?: string; value?: unknown }
    return cache.version === PARSE_CACHE_VERSION && cache.sha256 === textHash ? cache.value : undefined
  } catch {
    return undefined
  }
}

/** Remembers the parsed value of a manifest that passed layers 1 and 2. */
export async function writeParseCache(path: string, textHash: string, value: unknown): Promise<void> {
  // A cache: failing to write it only costs speed next time.
  await writeFileAtomic(path, JSON.stringify({ version: PARSE_CACHE_VERSION, sha256: textHash, value })).catch(() => {})
}
