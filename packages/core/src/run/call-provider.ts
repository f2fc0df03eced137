import { ImagesEditError } from '../errors.js'
import { ProviderError } from '../providers/http.js'
import type { EditContext, EditRequest, EditResult } from '../providers/provider.js'
import type { JournalEntry } from '../store/journal.js'
import { markBilled } from './billing.js'
import { type SettleOptions, settleEntry } from './collect.js'
import type { JobScope } from './context.js'
import { paidCall, RetryLater, retryNote } from './paid-call.js'
import { FREE_RETRIES, withRetries } from './retry.js'

/** A paid request's answer, with the journal entry that stands for it (absent for bytes handed back at once). */
export interface PaidAnswer {
  result: EditResult
  entry?: JournalEntry
}

/**
 * The paid part of a job: a synchronous call, or submit (journaled) and poll; or, when the
 * journal holds this request from an earlier run, that run's task or URLs (not paid again).
 */
export async function callProvider(scope: JobScope, request: EditRequest): Promise<PaidAnswer> {
  const { provider } = scope
  const earlier = await resumable(scope, request)
  const settle = settleOptions(scope)
  if (provider.submit && provider.poll) {
    const entry = earlier ?? (await submitTask(scope, request))
    return { entry, result: await settleEntry(provider, entry, settle) }
  }
  if (earlier?.urls) return { entry: earlier, result: await settleEntry(provider, earlier, settle) }
  return generateNow(scope, request)
}

/** The journal entry of this request left by an earlier run, if any (refused when it can never deliver). */
async function resumable(scope: JobScope, request: EditRequest): Promise<JournalEntry | undefined> {
  const { job, take } = scope.planned
  const { context } = scope
  const earlier = await context.journal.get(job.key, take, request.firstIndex)
  if (earlier?.uncollectable) {
    throw markBilled(
      new ProviderError(
        `an earlier run paid ${earlier.provider} for this job (task ${earlier.taskId}, ${earlier.submittedAt}) and it never delivered: ${earlier.uncollectable}. images-edit does not pay for it again on its own: \`images-edit build --force ${job.recipe}\` pays for a new take.`,
        { provider: job.provider, stage: 'generate' },
      ),
      'yes',
      earlier.taskId,
    )
  }
  if (earlier) {
    context.emit({
      type: 'job:progress',
      id: job.id,
      stage: 'resumed',
      taskId: earlier.taskId,
      note: `resuming ${earlier.urls ? 'the download of a result' : 'a task'} paid for by an earlier run (not paid again)`,
    })
  }
  return earlier
}

/** Submits a task (paid) and journals its id the moment it exists. */
async function submitTask(scope: JobScope, request: EditRequest): Promise<JournalEntry> {
  const { provider, planned, context, run } = scope
  const prepared = await prepare(scope, request)
  const submit = provider.submit?.bind(provider)
  if (!submit) throw new ImagesEditError('INTERNAL', `provider ${provider.id} cannot submit`, { userFacing: false })
  const { taskId } = await refusedLater(scope, () =>
    paidCall(() => submit(request, prepared, editContext(scope, run.hard)), 'submit', planned.job, scope.gate, run, scope.attempts),
  )
  const entry = newEntry(scope, request, taskId)
  await scope.journal.put(entry)
  context.emit({ type: 'job:progress', id: planned.job.id, stage: 'submitted', taskId })
  return entry
}

/** A synchronous paid call; URLs it hands back are journaled before they are downloaded. */
async function generateNow(scope: JobScope, request: EditRequest): Promise<PaidAnswer> {
  const { provider, planned, run } = scope
  const { job } = planned
  if (!provider.generate) throw new ImagesEditError('INTERNAL', `provider ${provider.id} implements neither generate nor submit/poll`, { userFacing: false })
  const prepared = await prepare(scope, request)
  const generateCall = provider.generate.bind(provider)
  let result: EditResult
  try {
    result = await refusedLater(scope, () =>
      paidCall(() => generateCall(request, prepared, editContext(scope, run.hard)), 'generate', job, scope.gate, run, scope.attempts),
    )
  } catch (error) {
    if (error instanceof ProviderError && error.billedTaskId) {
      // Accepted and billed, nothing handed back, no way to ask later: remember it so no rerun pays again unawares.
      await scope.journal.put(newEntry(scope, request, error.billedTaskId, { uncollectable: error.message }))
      throw markBilled(error, 'yes', error.billedTaskId)
    }
    throw error
  }
  // URLs are journaled before they are downloaded: a failed download is retried by the next run, not paid again.
  const urls = result.images.flatMap((image) => ('url' in image ? [image.url] : []))
  if (urls.length === 0) return { result }
  const entry = newEntry(scope, request, result.taskId ?? `${job.provider}-${Date.now()}`, { urls: urls.slice(0, request.n) })
  await scope.journal.put(entry)
  return { result, entry }
}

/**
 * A paid call, sent again after each refusal that proves nothing was accepted; the job waits out
 * the refusal's `Retry-After` without its slots, so other jobs use them meanwhile.
 */
async function refusedLater<T>(scope: JobScope, send: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await send()
    } catch (error) {
      if (!(error instanceof RetryLater)) throw error
      scope.context.emit({ type: 'job:progress', id: scope.planned.job.id, stage: 'waiting', note: error.note })
      await scope.slots.waitOut(error.delayMs, scope.run.either)
    }
  }
}

/** The provider's free preparation (uploads), retried. */
function prepare(scope: JobScope, request: EditRequest): Promise<unknown> {
  const { provider, run } = scope
  if (!provider.prepare) return Promise.resolve(undefined)
  const free = editContext(scope, run.either)
  return withRetries(() => provider.prepare?.(request, free) as Promise<unknown>, FREE_RETRIES, {
    signal: run.either,
    onRetry: retryNote(scope.context.emit, scope.planned.job.id),
  })
}

function settleOptions(scope: JobScope): SettleOptions {
  return {
    free: editContext(scope, scope.run.either),
    gate: scope.gate,
    onRetry: retryNote(scope.context.emit, scope.planned.job.id),
    journal: scope.journal,
    slots: scope.slots,
  }
}

function editContext(scope: JobScope, signal: AbortSignal): EditContext {
  const { context } = scope
  const id = scope.planned.job.id
  return {
    signal,
    onProgress: (progress) => context.emit({ type: 'job:progress', id, ...progress }),
    ...(context.uploads ? { uploads: context.uploads } : {}),
  }
}

function newEntry(scope: JobScope, request: EditRequest, taskId: string, extra: Partial<JournalEntry> = {}): JournalEntry {
  const { job, take } = scope.planned
  return {
    key: job.key,
    take,
    firstIndex: request.firstIndex,
    count: request.n,
    provider: job.provider,
    model: job.model,
    taskId,
    submittedAt: new Date().toISOString(),
    format: request.format,
    ...(request.size ? { size: request.size } : {}),
    ...extra,
  }
}
