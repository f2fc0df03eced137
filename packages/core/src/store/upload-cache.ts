import { readCacheText } from '../fs/project-fs.js'
import type { ProviderId, UploadCache } from '../providers/provider.js'
import { writeFileAtomic } from './atomic-write.js'

/**
 * How long an uploaded file is trusted to stay at its URL. toapis does not document retention
 * (providers.md §1.5: unknown; a gateway of the same shape keeps 72 h), so we stay well inside it.
 */
export const UPLOAD_TTL_MS = 12 * 60 * 60 * 1000

interface Entry {
  url: string
  at: number
}

/** Upload URLs by provider and content hash, in `.images-edit/uploads.json`. */
export class FileUploadCache implements UploadCache {
  private entries: Record<string, Entry> | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly path: string,
    private readonly now: () => number = Date.now,
  ) {}

  private async load(): Promise<Record<string, Entry>> {
    if (!this.entries) {
      try {
        const value = JSON.parse((await readCacheText(this.path)) ?? '') as unknown
        this.entries = value && typeof value === 'object' ? (value as Record<string, Entry>) : {}
      } catch {
        this.entries = {}
      }
    }
    return this.entries
  }

  async get(provider: ProviderId, sha256: string): Promise<string | undefined> {
    const entry = (await this.load())[`${provider}:${sha256}`]
    return entry && this.now() - entry.at < UPLOAD_TTL_MS ? entry.url : undefined
  }

  async put(provider: ProviderId, sha256: string, url: string): Promise<void> {
    const entries = await this.load()
    entries[`${provider}:${sha256}`] = { url, at: this.now() }
    for (const [key, entry] of Object.entries(entries)) if (this.now() - entry.at >= UPLOAD_TTL_MS) delete entries[key]
    // Writes are chained so two uploads finishing together cannot interleave.
    this.writing = this.writing.then(() => writeFileAtomic(this.path, `${JSON.stringify(entries, null, 1)}\n`))
    await this.writing
  }
}
