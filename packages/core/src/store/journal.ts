import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
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
  taskId: string
  submittedAt: string
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
      const entry = JSON.parse(await readFile(this.path(key, take, firstIndex), 'utf8')) as JournalEntry
      return entry.key === key && typeof entry.taskId === 'string' ? entry : undefined
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
        entries.push(JSON.parse(await readFile(join(this.dir, name), 'utf8')) as JournalEntry)
      } catch {
        // a damaged entry cannot be resumed; the job will be submitted again
      }
    }
    return entries
  }
}
