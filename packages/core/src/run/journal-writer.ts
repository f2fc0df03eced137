import type { Journal, JournalEntry } from '../store/journal.js'
import type { EventListener } from './events.js'

/**
 * The journal as one job writes it. A task id the provider returned is never dropped inside the
 * run: when the entry cannot be written (read-only or full disk) the id stays in memory, the job
 * keeps collecting it, the write is retried at every step, and a warning names the task.
 */
export class JournalWriter {
  private readonly unsavedEntries = new Map<string, JournalEntry>()

  constructor(
    private readonly journal: Journal,
    private readonly jobId: string,
    private readonly emit: EventListener,
  ) {}

  async put(entry: JournalEntry): Promise<void> {
    try {
      await this.journal.put(entry)
      this.unsavedEntries.delete(slot(entry))
    } catch (error) {
      const first = !this.unsavedEntries.has(slot(entry))
      this.unsavedEntries.set(slot(entry), entry)
      if (first) {
        this.emit({
          type: 'warning',
          id: this.jobId,
          message: `could not write the journal (${this.journal.dir}: ${describeFsError(error)}). ${entry.provider} task ${entry.taskId} is paid for and kept in memory; this run still collects it, but if it stops before that, a rerun cannot resume it and may pay again. Fix the folder now; the write is retried.`,
        })
      }
    }
  }

  /** Entries held in memory only. */
  get unsaved(): number {
    return this.unsavedEntries.size
  }

  /** Retries entries that could not be written. */
  async flush(): Promise<void> {
    for (const entry of [...this.unsavedEntries.values()]) await this.put(entry)
  }

  async delete(key: string, take: number, firstIndex: number): Promise<void> {
    this.unsavedEntries.delete(`${key}-${take}-${firstIndex}`)
    // A stale entry is pruned by the next build once its images are stored; it never costs money.
    await this.journal.delete(key, take, firstIndex).catch(() => {})
  }
}

function slot(entry: JournalEntry): string {
  return `${entry.key}-${entry.take}-${entry.firstIndex}`
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code ? `${code}` : error instanceof Error ? error.message : String(error)
}
