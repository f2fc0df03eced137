import { isPlainRelative, readCacheText } from '../fs/project-fs.js'
import { writeFileAtomic } from '../store/atomic-write.js'

/**
 * `outputs.json`: the sha256 of every output file images-edit last wrote, by path. `gc` deletes
 * only outputs whose bytes are still the ones recorded here; a restore can recover from it.
 */
export class OutputLedger {
  private writes: Promise<unknown> = Promise.resolve()
  private pending: { changes: Record<string, string | undefined>; written: Promise<void> } | undefined

  constructor(readonly path: string) {}

  /**
   * Adds (or, with undefined, removes) ledger entries: re-read, merged, written. Changes arriving
   * while a write is under way are batched into the next one, so jobs finishing together wait for
   * one write, not one each.
   */
  record(changes: Record<string, string | undefined>): Promise<void> {
    if (this.pending) {
      Object.assign(this.pending.changes, changes)
      return this.pending.written
    }
    const batch = { changes: { ...changes }, written: Promise.resolve() }
    batch.written = this.writes.then(async () => {
      if (this.pending === batch) this.pending = undefined
      const ledger = await this.read()
      for (const [path, sha] of Object.entries(batch.changes)) {
        if (sha === undefined) delete ledger[path]
        else ledger[path] = sha
      }
      await this.write(ledger)
    })
    this.pending = batch
    this.writes = batch.written.catch(() => {})
    return batch.written
  }

  /**
   * The output ledger. Only plain relative paths inside the project count (checked like manifest
   * paths): an entry naming `../x` or `/x`, written by anyone, is ignored and never deleted.
   */
  async read(): Promise<Record<string, string>> {
    let value: unknown
    try {
      value = JSON.parse((await readCacheText(this.path)) ?? '{}') as unknown
    } catch {
      return {}
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {}
    const ledger: Record<string, string> = {}
    for (const [path, sha] of Object.entries(value)) if (typeof sha === 'string' && isPlainRelative(path)) ledger[path] = sha
    return ledger
  }

  private async write(ledger: Record<string, string>): Promise<void> {
    const sorted = Object.fromEntries(Object.entries(ledger).sort(([a], [b]) => (a < b ? -1 : 1)))
    await writeFileAtomic(this.path, `${JSON.stringify(sorted, null, 1)}\n`)
  }
}
