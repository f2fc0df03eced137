import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { PlannedJob } from '../plan/plan.js'
import { ProviderError } from '../providers/http.js'
import type { EditRequest, EditResult } from '../providers/provider.js'
import type { JournalEntry } from '../store/journal.js'
import type { ImageRecord, JobRecord, TakeRecord } from '../store/store.js'
import { billingOf, markBilled } from './billing.js'
import { callProvider } from './call-provider.js'
import { acceptImages, addRun, type DownloadedImages, downloadImages, paidResultLost } from './collect.js'
import type { JobScope, RunnerContext } from './context.js'
import { retryNote } from './paid-call.js'
import { toEditRequest } from './request.js'
import { expectedOf } from './verify.js'

/**
 * Makes the images of one job that are still missing; runs holding the job key's lock. Each
 * request holds the job's slots while the provider works (uploads, paid call, polls, download),
 * then gives them back (unless `holdSlots`) to verify and store its images under the `finish` limit.
 */
export async function generate(scope: JobScope): Promise<ImageRecord[]> {
  const { planned, context, run } = scope
  const { job } = planned
  await scope.slots.take()
  if (run.stop.aborted) throw new ImagesEditError('ABORTED', 'not started: the run was interrupted')
  context.emit({ type: 'job:started', id: job.id, provider: job.provider })
  const { record, take } = await currentTake(planned, context)
  // Every candidate is made; the outputs are the picked ones among them (the first by default).
  if (take.images.length >= job.candidates) return take.images

  const capabilities = scope.provider.capabilities(job.model)
  while (take.images.length < job.candidates) {
    if (run.stop.aborted) throw new ImagesEditError('ABORTED', 'interrupted')
    const count = Math.min(job.candidates - take.images.length, capabilities.n.max)
    const request = toEditRequest(job, { n: count, firstIndex: take.images.length, take: planned.take })
    const billed = async (error: unknown): Promise<never> => {
      await recordBilled(error, record, take, job, request.firstIndex, context)
      throw error
    }
    await scope.slots.take()
    const fetched = await fetchRequest(scope, request).catch(billed)
    if (!scope.holdSlots) scope.slots.give()
    await context.gates.finish(async () => {
      const { images, warnings, result } = await acceptRequest(scope, request, fetched).catch(billed)
      for (const warning of warnings) context.emit({ type: 'warning', id: job.id, message: warning })
      const estimate = context.estimate?.(job, images.length)
      addRun(take, {
        provider: job.provider,
        model: job.model,
        firstIndex: request.firstIndex,
        images,
        job: job.id,
        ...(result.taskId ? { taskId: result.taskId } : {}),
        ...(result.usage ? { usage: result.usage } : {}),
        ...(estimate ? { estimate } : {}),
        ...(result.revisedPrompt ? { revisedPrompt: result.revisedPrompt } : {}),
        warnings,
      })
      // Objects first, then the record naming them, then the journal entry goes: a crash anywhere
      // leaves either a resumable task or a stored result, never a lost one.
      await context.store.putRecord(context.redact ? context.redact(record) : record)
      await scope.journal.delete(job.key, planned.take, request.firstIndex)
      if (images.length < count) throw shortAnswer(job, images.length, count, result.taskId)
    })
  }
  return take.images
}

/** The job's record and take as stored, re-read under the lock: another process (or a duplicate job of this run) may have made them. */
async function currentTake(planned: PlannedJob, context: RunnerContext): Promise<{ record: JobRecord; take: TakeRecord }> {
  const { job } = planned
  const current = await context.store.getRecord(job.key)
  const record: JobRecord = current
    ? structuredClone(current)
    : { version: 1, key: job.key, provider: job.provider, model: job.model, selectedTake: planned.take, takes: [] }
  let take = record.takes.find((item) => item.take === planned.take)
  if (!take) {
    take = { take: planned.take, images: [], runs: [] }
    record.takes.push(take)
    record.takes.sort((a, b) => a.take - b.take)
  }
  const stored: ImageRecord[] = []
  for (const image of take.images) {
    if (!(await context.store.hasObject(image.sha256))) break
    stored.push(image)
  }
  // Images beyond the servable prefix are dropped from the take: they are made again, in order.
  take.images = stored.length >= planned.available.length ? stored : planned.available.slice()
  record.selectedTake = planned.take
  return { record, take }
}

function shortAnswer(job: Job, got: number, count: number, taskId: string | undefined): ProviderError {
  return markBilled(
    new ProviderError(
      `${job.provider} returned ${got} image${got === 1 ? '' : 's'} for a request of ${count}; ${got > 0 ? 'they are kept, and ' : ''}a rerun asks only for the missing ${count - got}`,
      { provider: job.provider, stage: 'download' },
    ),
    'yes',
    taskId,
  )
}

/** A call billed with nothing collected is written into the take's runs too, with its task id, so it is never forgotten. */
async function recordBilled(error: unknown, record: JobRecord, take: TakeRecord, job: Job, firstIndex: number, context: RunnerContext): Promise<void> {
  const facts = billingOf(error)
  if (facts?.billed !== 'yes' || !facts.taskId || take.runs.some((run) => run.taskId === facts.taskId)) return
  take.runs.push({
    at: new Date().toISOString(),
    provider: job.provider,
    model: job.model,
    firstIndex,
    count: 0,
    taskId: facts.taskId,
    warnings: [`billed, not collected: ${(error as Error).message}`],
  })
  // Best effort: the journal holds the same id.
  await context.store.putRecord(context.redact ? context.redact(record) : record).catch(() => {})
}

/** What the provider handed over for one request: its answer, the journal entry standing for it, and the downloaded bytes. */
interface Fetched {
  result: EditResult
  entry?: JournalEntry
  downloaded: DownloadedImages
}

/** The provider's part of one request, inside the job's slots: paid for (or resumed from the journal) and downloaded. */
async function fetchRequest(scope: JobScope, request: EditRequest): Promise<Fetched> {
  const { planned, context, run, provider, journal } = scope
  const { job } = planned
  const { result, entry } = await callProvider(scope, request)
  // A synchronous answer's URLs are collected even while stopping: they are paid for and exist nowhere else.
  const signal = entry?.urls ? run.hard : run.either
  if (entry?.urls) run.inFlight.set(job.id, { id: job.id, provider: job.provider, stage: 'download' })
  const downloaded = await downloadImages(provider, result.images.slice(0, request.n), {
    signal,
    journal,
    onDownload: () => context.emit({ type: 'job:progress', id: job.id, stage: 'downloading' }),
    onRetry: retryNote(context.emit, job.id),
  }).finally(() => run.inFlight.delete(job.id))
  return { result, ...(entry ? { entry } : {}), downloaded }
}

/** One request's images, outside the slots: decoded, verified and stored; a failure keeps what was paid for collectable. */
async function acceptRequest(
  scope: JobScope,
  request: EditRequest,
  fetched: Fetched,
): Promise<{ images: ImageRecord[]; warnings: string[]; result: EditResult }> {
  const { planned, context, run, provider, journal } = scope
  const { job } = planned
  const { result, entry } = fetched
  const extra =
    result.images.length > request.n
      ? [`${job.provider} returned ${result.images.length} images for a request of ${request.n}; only the first ${request.n} were downloaded`]
      : []
  const stored = await acceptImages(fetched.downloaded, expectedOf(job), context.store)
  const warnings = [...result.warnings, ...extra, ...stored.warnings]
  if (stored.error === undefined) return { images: stored.images, warnings, result }
  // Images of a synchronous answer already stored are kept: the job asks only for the rest.
  if (!entry && stored.images.length > 0 && stored.error instanceof ProviderError) {
    warnings.push(`${stored.error.message} — the ${stored.images.length} image(s) before it are kept`)
    return { images: stored.images, warnings, result }
  }
  throw await paidResultLost(stored.error, entry, provider, journal, run)
}
