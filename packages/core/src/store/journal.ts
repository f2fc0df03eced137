import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readBoundedText } from '../fs/project-fs.js'
import type { OutputFormat, PixelSize } from '../providers/provider.js'
import { writeFileAtomic } from './atomic-write.js'

/** A paid task that was submitted and whose images are not stored yet. */
export interface JournalEntry {
  key: string
  take: number
  /** Index of the first image the task makes within the take. */
  firstIndex: number
  count: number
  provider: string
  model: string
  /** The service's task id (task services; aa names its synchronous answers too). */
  taskId: string
  submittedAt: string
  /**
   * Result URLs a synchronous call answered with, journaled before they are downloaded: a failed
   * or interrupted download is retried from here on the next run instead of paying again.
   */
  urls?: string[]
  /** What the request asked for, so the result can be checked and kept even when the recipe has changed since. */
  format?: OutputFormat
  size?: PixelSize
  /**
   * The service accepted and billed this call but handed back nothing and offers no way to ask
   * for it later (aa answering before its task finished). Kept so the job is not paid again
   * silently: the next build reports it; `--force` starts a new, paid take.
   */
  uncollectable?: string
}

/**
 * The journal of in-flight tasks, `.images-edit/journal/`. An entry is written (atomically) the
 * moment a submit returns its task id and removed once the task's images are stored, so a run
 * cut short — Ctrl-C, a crash, a killed CI job — resumes polling instead of paying again.
 */
export class Journal {
  constructor(readonly dir: string) {}

  private path(key: string, take: number, firstIndex: number): string {
    return join(this.dir, `${key}-${take}-${firstIndex}.json`)
  }

  async get(key: string, take: number, firstIndex: number): Promise<JournalEntry | undefined> {
    try {
      const entry = JSON.parse(await readBoundedText(this.path(key, take, firstIndex), 'journal')) as JournalEntry
      return entry.key === key && typeof entry.taskId === 'string' && entry.take === take && entry.firstIndex === firstIndex ? entry : undefined
    } catch {
      return undefined
    }
  }

  async put(entry: JournalEntry): Promise<void> {
    await writeFileAtomic(this.path(entry.key, entry.take, entry.firstIndex), `${JSON.stringify(entry, null, 2)}\n`)
  }

  async delete(key: string, take: number, firstIndex: number): Promise<void> {
    await rm(this.path(key, take, firstIndex), { force: true })
  }

  /** Every entry, for `status` and the "still in flight" message on Ctrl-C. */
  async list(): Promise<JournalEntry[]> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    const entries: JournalEntry[] = []
    for (const name of names.filter((item) => item.endsWith('.json')).sort()) {
      try {
        entries.push(JSON.parse(await readBoundedText(join(this.dir, name), 'journal')) as JournalEntry)
      } catch {
        // a damaged entry cannot be resumed; the job will be submitted again
      }
    }
    return entries
  }
}
