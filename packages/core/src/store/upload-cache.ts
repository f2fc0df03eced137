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

/**
 * Upload URLs by provider and content hash, in `.images-edit/uploads.json`.
 *
 * The file is rewritten whole, so writes are coalesced: while one is in flight, every `put` joins
 * the single next write, which serializes all entries when it starts. A catalogue of 10,000 refs
 * used to write (and fsync) the growing file once per upload, one after another — quadratic bytes,
 * and every upload waited behind all earlier writes.
 */
export class FileUploadCache implements UploadCache {
  private loading: Promise<Record<string, Entry>> | undefined
  /** The write in flight (or the last one); never rejects, so a failed write does not block later ones. */
  private writing: Promise<void> = Promise.resolve()
  /** The next write, not started yet: puts made before it starts are in it. */
  private next: Promise<void> | undefined

  constructor(
    private readonly path: string,
    private readonly now: () => number = Date.now,
    private readonly write: (path: string, text: string) => Promise<void> = writeFileAtomic,
  ) {}

  /** Read once; concurrent first calls share the read (each used to start its own and replace the entries). */
  private load(): Promise<Record<string, Entry>> {
    this.loading ??= readCacheText(this.path)
      .then(
        (text) => {
          const value = JSON.parse(text ?? '') as unknown
          return value && typeof value === 'object' ? (value as Record<string, Entry>) : {}
        },
        () => ({}),
      )
      .catch(() => ({}))
    return this.loading
  }

  async get(provider: ProviderId, sha256: string): Promise<string | undefined> {
    const entry = (await this.load())[`${provider}:${sha256}`]
    return entry && this.now() - entry.at < UPLOAD_TTL_MS ? entry.url : undefined
  }

  /** Records an upload; resolves once a write that contains it is on disk. */
  async put(provider: ProviderId, sha256: string, url: string): Promise<void> {
    const entries = await this.load()
    entries[`${provider}:${sha256}`] = { url, at: this.now() }
    if (!this.next) {
      const next = this.writing.then(() => {
        // From here on, puts join the write after this one: this one's text is taken now.
        this.next = undefined
        const now = this.now()
        for (const [key, entry] of Object.entries(entries)) if (now - entry.at >= UPLOAD_TTL_MS) delete entries[key]
        return this.write(this.path, `${JSON.stringify(entries, null, 1)}\n`)
      })
      this.next = next
      this.writing = next.catch(() => {})
    }
    await this.next
  }
}
