import type { ImageEditProvider, ProviderId } from '../providers/provider.js'
import type { JournalEntry } from '../store/journal.js'
import type { ImageRecord, JobRecord, TakeRecord } from '../store/store.js'
import { addRun, settleEntry, storeImages } from './collect.js'
import { createRunState, type RunnerContext, type RunState } from './context.js'
import { JournalWriter } from './journal-writer.js'
import { retryNote } from './paid-call.js'

/**
 * Collects journaled tasks that no job of this run asked for — paid by an earlier run whose recipe
 * has changed since, or of a take nobody builds now — into the store, so a paid result is never
 * left behind: it becomes a take of its key, used again if the recipe returns to that version.
 * Free (polls and downloads); an entry whose provider cannot be created (no key) stays journaled.
 */
export async function collectJournaled(entries: readonly JournalEntry[], context: RunnerContext): Promise<number> {
  let collected = 0
  const run = createRunState(context.signal, context)
  for (const entry of entries) {
    if (entry.uncollectable || run.stop.aborted) continue
    try {
      const provider = context.provider(entry.provider as ProviderId)
      await context.keyLocks.with(entry.key, run.either, async () => {
        if (await collectEntry(provider, entry, context, run)) collected++
      })
    } catch (error) {
      if (run.either.aborted) return collected
      context.emit({
        type: 'warning',
        message: `${entry.provider} task ${entry.taskId} (paid by an earlier run) could not be collected yet: ${(error as Error).message}; it stays journaled`,
      })
    }
  }
  return collected
}

/** Collects one entry, holding its key's lock; false when it is gone already (collected by someone else). */
async function collectEntry(provider: ImageEditProvider, entry: JournalEntry, context: RunnerContext, run: RunState): Promise<boolean> {
  const id = `journal:${entry.taskId}`
  const journal = new JournalWriter(context.journal, id, context.emit)
  const current = await context.journal.get(entry.key, entry.take, entry.firstIndex)
  if (!current) return false
  const onRetry = retryNote(context.emit, id)
  const free = { signal: run.either, onProgress: () => {} }
  const result = await settleEntry(provider, current, { free, gate: context.gates.provider(provider.id), onRetry, journal, keepMissing: true })
  const expected = { provider: provider.id, format: current.format ?? 'png', ...(current.size ? { size: current.size } : {}) }
  const stored = await storeImages(provider, result.images.slice(0, current.count), expected, context.store, { signal: run.either, journal, onRetry })
  if (stored.error !== undefined) throw stored.error
  await storeCollected(current, stored.images, stored.warnings, context)
  await journal.delete(current.key, current.take, current.firstIndex)
  context.emit({
    type: 'warning',
    message: `collected ${current.provider} task ${current.taskId}, paid by an earlier run for a recipe version no job builds now; it is kept in the store (used again if the recipe returns to that version)`,
  })
  return true
}

/** Puts collected images into their take, or into a new take when the take has moved on since. */
async function storeCollected(entry: JournalEntry, images: ImageRecord[], warnings: string[], context: RunnerContext): Promise<void> {
  const record: JobRecord = structuredClone(await context.store.getRecord(entry.key)) ?? {
    version: 1,
    key: entry.key,
    provider: entry.provider,
    model: entry.model,
    selectedTake: entry.take,
    takes: [],
  }
  let take: TakeRecord | undefined = record.takes.find((item) => item.take === entry.take)
  if (take && take.images.length !== entry.firstIndex) take = undefined
  if (!take) {
    const number = record.takes.some((item) => item.take === entry.take) ? Math.max(...record.takes.map((item) => item.take)) + 1 : entry.take
    take = { take: number, images: [], runs: [] }
    record.takes.push(take)
    record.takes.sort((a, b) => a.take - b.take)
  }
  addRun(take, { provider: entry.provider, model: entry.model, firstIndex: entry.firstIndex, images, taskId: entry.taskId, warnings })
  await context.store.putRecord(context.redact ? context.redact(record) : record)
}
