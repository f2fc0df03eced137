import { setTimeout as sleep } from 'node:timers/promises'
import pLimit from 'p-limit'
import pThrottle from 'p-throttle'
import { ImagesEditError } from '../errors.js'
import { fsError, isFsError } from '../fs/project-fs.js'
import type { Job } from '../manifest/job.js'
import type { PlannedJob } from '../plan/plan.js'
import { ProviderError } from '../providers/http.js'
import type { EditContext, EditRequest, EditResult, ImageEditProvider, ProviderId, TaskStatus, UploadCache } from '../providers/provider.js'
import type { Journal, JournalEntry } from '../store/journal.js'
import type { KeyLocks } from '../store/key-lock.js'
import type { ImageRecord, JobRecord, ResultStore, TakeRecord } from '../store/store.js'
import type { EventListener, InFlightCall, JobError } from './events.js'
import { FREE_RETRIES, mayRetry, PAID_RETRIES, retryDelay, withRetries } from './retry.js'
import { acceptResult, expectedOf } from './verify.js'

export { MAX_RESULT_BYTES } from './verify.js'

/** Limits and cadence of one provider, as the runner applies them. */
export interface ProviderLimits {
  /** Jobs in flight on this provider (on top of the global cap). */
  concurrency?: number
  /** Paid requests per minute. */
  requestsPerMinute?: number
  /** Status queries per minute (task services). @default 3000 (toapis' default bucket) */
  statusRequestsPerMinute?: number
  /** First poll this long after submit. @default 5000 */
  pollIntervalMs?: number
  /** Longest wait between polls. @default 10000 */
  maxPollIntervalMs?: number
  /** Stop polling a task after this long; it stays journaled. @default 900000 */
  taskTimeoutMs?: number
}

/** What the runner needs; everything is injected so tests and the Vite plugin can supply their own. */
export interface RunnerContext {
  store: ResultStore
  provider(id: ProviderId): ImageEditProvider
  /** Global cap on jobs in flight. */
  concurrency: number
  limits(id: ProviderId): ProviderLimits
  /** Caps shared with other runs of the same project; created from `concurrency` and `limits` when absent. */
  gates?: RunnerGates
  /** Stop on the first failure instead of finishing the other jobs. */
  keepGoing: boolean
  /**
   * Stops the run: nothing new starts (no upload, submit or poll), but paid calls already sent are
   * still answered, their task ids journaled and synchronous results kept.
   */
  signal: AbortSignal
  /** Abandons the paid calls in flight as well (a second Ctrl-C); their jobs are reported as possibly billed. */
  abandon?: AbortSignal
  /** Applied to every record before it is stored, so a secret a service echoes never reaches the store. */
  redact?: <T>(value: T) => T
  emit: EventListener
  /** Task ids of submitted, not yet stored tasks (resume after a crash). */
  journal: Journal
  /** One process at a time per job key. */
  keyLocks: KeyLocks
  uploads?: UploadCache
  /**
   * Called once a job's images are all in the store; writes its outputs. Runs before the job
   * counts as done, so a crash after it leaves the store and the outputs in step.
   */
  commit(planned: PlannedJob, images: ImageRecord[]): Promise<void>
  /** Brings images that exist only as output files (fresh clone) into the store. */
  ingest(planned: PlannedJob): Promise<void>
}

/** Outcome of one generated job. */
export type JobOutcome = { ok: true; images: ImageRecord[] } | { ok: false; error: JobError }

interface ProviderGate {
  limit: ReturnType<typeof pLimit>
  paid: <T>(call: () => Promise<T>) => Promise<T>
  status: <T>(call: () => Promise<T>) => Promise<T>
}

/**
 * The concurrency caps and rate gates of a project. Shared by every run of one `Project`, so
 * overlapping runs (a dev session rebuilding while an earlier change is still generating) stay
 * within the same global and per-provider limits.
 */
export interface RunnerGates {
  global: ReturnType<typeof pLimit>
  provider(id: ProviderId): ProviderGate
}

/** Creates the gates for a global cap and per-provider limits. */
export function createRunnerGates(concurrency: number, limits: (id: ProviderId) => ProviderLimits): RunnerGates {
  const providers = new Map<ProviderId, ProviderGate>()
  return {
    global: pLimit(Math.max(1, concurrency)),
    provider(id) {
      let existing = providers.get(id)
      if (!existing) {
        const limit = limits(id)
        existing = {
          limit: pLimit(Math.max(1, limit.concurrency ?? concurrency)),
          paid: rateLimited(limit.requestsPerMinute),
          status: rateLimited(limit.statusRequestsPerMinute ?? 3000),
        }
        providers.set(id, existing)
      }
      return existing
    },
  }
}

/**
 * Runs the `generate` jobs of a plan. Global and per-provider concurrency; per-provider request
 * rates; one key at a time across processes (a job whose key is being made elsewhere waits and
 * then uses that result); n split into requests of at most the provider's maximum; free calls
 * retried, paid calls only when surely not accepted (waiting out `Retry-After` without holding a
 * slot); task ids journaled the moment they exist; every result decoded and stored before the
 * record that names it. One failing job never stops the others unless `keepGoing` is off.
 *
 * Stopping (`signal`) starts nothing new but lets paid calls already sent be answered, so their
 * task ids are journaled and their results kept; `abandon` gives up on those too.
 */
export async function runJobs(jobs: readonly PlannedJob[], context: RunnerContext): Promise<Map<string, JobOutcome>> {
  const outcomes = new Map<string, JobOutcome>()
  const gates = context.gates ?? createRunnerGates(context.concurrency, context.limits)
  const keepGoingStop = new AbortController()
  const stop = AbortSignal.any([context.signal, keepGoingStop.signal])
  const hard = context.abandon ?? new AbortController().signal
  const run: RunState = { stop, hard, either: AbortSignal.any([stop, hard]), inFlight: new Map() }
  const onStop = () => {
    if (run.inFlight.size > 0) context.emit({ type: 'run:stopping', inFlight: [...run.inFlight.values()] })
  }
  context.signal.addEventListener('abort', onStop, { once: true })

  for (const planned of jobs) {
    context.emit({ type: 'job:queued', id: planned.job.id, provider: planned.job.provider, newImages: planned.newImages, reasons: planned.reasons })
  }
  const runOne = async (planned: PlannedJob) => {
    const { job } = planned
    const started = Date.now()
    const attempts = { paid: 0 }
    try {
      for (;;) {
        // Waiting for a provider slot must not hold a global slot, or one busy provider would starve the rest.
        const wait = await gates.provider(job.provider).limit(() => gates.global(() => attemptJob(planned, context, gates, run, attempts, started)))
        if (wait === undefined) return
        // A refused paid call waits out its Retry-After here, holding no slot.
        context.emit({ type: 'job:progress', id: job.id, stage: 'waiting', note: wait.note })
        await sleep(wait.delayMs, undefined, { signal: run.either }).catch(() => {
          throw new ImagesEditError('ABORTED', 'interrupted while waiting to retry')
        })
      }
    } catch (error) {
      const jobError = toJobError(error, run)
      outcomes.set(job.id, { ok: false, error: jobError })
      context.emit({ type: 'job:failed', id: job.id, provider: job.provider, error: jobError, elapsedMs: Date.now() - started })
      if (!context.keepGoing && jobError.code !== 'ABORTED') keepGoingStop.abort(new ImagesEditError('ABORTED', 'stopped after a failure (--no-keep-going)'))
      return
    }
  }
  await Promise.all(jobs.map(runOne))
  context.signal.removeEventListener('abort', onStop)
  for (const planned of jobs) if (!outcomes.has(planned.job.id)) outcomes.set(planned.job.id, { ok: false, error: { code: 'INTERNAL', message: 'no outcome' } })
  return outcomes

  /** One pass of a job inside its slots; returns a wait when a refused paid call must be retried later. */
  async function attemptJob(
    planned: PlannedJob,
    ctx: RunnerContext,
    gateSet: RunnerGates,
    state: RunState,
    attempts: { paid: number },
    started: number,
  ): Promise<RetryLater | undefined> {
    const { job } = planned
    if (state.stop.aborted) throw new ImagesEditError('ABORTED', 'not started: the run was interrupted')
    if (attempts.paid === 0) ctx.emit({ type: 'job:started', id: job.id, provider: job.provider })
    try {
      await ctx.ingest(planned)
      const images = await ctx.keyLocks.with(
        job.key,
        state.either,
        () => generate(planned, ctx, gateSet.provider(job.provider), state, attempts),
        () =>
          ctx.emit({
            type: 'job:progress',
            id: job.id,
            stage: 'waiting',
            note: 'another images-edit process is making this job; waiting for its result',
          }),
      )
      await ctx.commit(planned, images)
      outcomes.set(job.id, { ok: true, images })
      ctx.emit({ type: 'job:done', id: job.id, provider: job.provider, outputs: job.outputs, newImages: planned.newImages, elapsedMs: Date.now() - started })
      return undefined
    } catch (error) {
      if (error instanceof RetryLater) return error
      throw error
    }
  }
}

/** The signals and bookkeeping of one run. */
interface RunState {
  /** Start nothing new. */
  stop: AbortSignal
  /** Abandon paid calls in flight. */
  hard: AbortSignal
  /** Either: for free work, which may stop at once. */
  either: AbortSignal
  /** Paid calls sent and not yet answered (or synchronous results not yet downloaded), by job id. */
  inFlight: Map<string, InFlightCall>
}

/** A paid call was refused in a way that proves nothing was accepted: retry after `delayMs`, outside the slots. */
class RetryLater extends Error {
  constructor(
    readonly delayMs: number,
    readonly note: string,
  ) {
    super(note)
  }
}

/** Paid-call facts attached to an error on its way to the job's outcome. */
const billing = new WeakMap<object, { billed: 'yes' | 'maybe'; taskId?: string }>()

function markBilled<E>(error: E, billed: 'yes' | 'maybe', taskId?: string): E {
  if (error && typeof error === 'object') billing.set(error, { billed, ...(taskId ? { taskId } : {}) })
  return error
}

/** A wrapper that spreads calls to at most `perMinute` a minute (smoothly, not in bursts). */
function rateLimited(perMinute: number | undefined): <T>(call: () => Promise<T>) => Promise<T> {
  if (!perMinute) return (call) => call()
  const limit = Math.max(1, Math.floor(perMinute / 60))
  const throttled = pThrottle({ limit, interval: Math.round((60_000 * limit) / perMinute) })((call: () => Promise<unknown>) => call())
  return <T>(call: () => Promise<T>) => throttled(call) as Promise<T>
}

/** Makes the images of one job that are still missing; runs holding the job key's lock. */
async function generate(planned: PlannedJob, context: RunnerContext, gate: ProviderGate, run: RunState, attempts: { paid: number }): Promise<ImageRecord[]> {
  const { job } = planned
  // Re-read under the lock: another process (or a duplicate job of this run) may have made them.
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
  if (take.images.length >= job.n) return take.images.slice(0, job.n)

  const provider = context.provider(job.provider)
  const capabilities = provider.capabilities(job.model)
  const journal = new JournalWriter(context.journal, job.id, context.emit)
  while (take.images.length < job.n) {
    if (run.stop.aborted) throw new ImagesEditError('ABORTED', 'interrupted')
    const count = Math.min(job.n - take.images.length, capabilities.n.max)
    const request = toRequest(job, count, take.images.length, planned.take)
    const collected = await collectChunk(provider, request, planned, context, gate, run, attempts, journal).catch(async (error: unknown) => {
      await recordBilled(error, record, take, job, request.firstIndex, context)
      throw error
    })
    const { images, warnings } = collected
    for (const warning of warnings) context.emit({ type: 'warning', id: job.id, message: warning })
    appendRun(take, job, request.firstIndex, images, collected.result, warnings)
    // Objects first, then the record naming them, then the journal entry goes: a crash anywhere
    // leaves either a resumable task or a stored result, never a lost one.
    await context.store.putRecord(context.redact ? context.redact(record) : record)
    await journal.delete(job.key, planned.take, request.firstIndex)
    if (images.length < count) {
      throw markBilled(
        new ProviderError(
          `${job.provider} returned ${images.length} image${images.length === 1 ? '' : 's'} for a request of ${count}; ${images.length > 0 ? 'they are kept, and ' : ''}a rerun asks only for the missing ${count - images.length}`,
          { provider: job.provider, stage: 'download' },
        ),
        'yes',
        collected.result.taskId,
      )
    }
  }
  return take.images.slice(0, job.n)
}

/** A call billed with nothing collected is written into the take's runs too, with its task id, so it is never forgotten. */
async function recordBilled(error: unknown, record: JobRecord, take: TakeRecord, job: Job, firstIndex: number, context: RunnerContext): Promise<void> {
  const facts = error && typeof error === 'object' ? billing.get(error) : undefined
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

/** One request's images: paid for (or resumed from the journal), downloaded, decoded and stored. */
async function collectChunk(
  provider: ImageEditProvider,
  request: EditRequest,
  planned: PlannedJob,
  context: RunnerContext,
  gate: ProviderGate,
  run: RunState,
  attempts: { paid: number },
  journal: JournalWriter,
): Promise<{ images: ImageRecord[]; warnings: string[]; result: EditResult }> {
  const { job } = planned
  const expected = expectedOf(job)
  const { result, entry } = await callProvider(provider, request, planned, context, gate, run, attempts, journal)
  const warnings = [...result.warnings]
  const produced = result.images.slice(0, request.n)
  if (result.images.length > request.n) {
    warnings.push(`${job.provider} returned ${result.images.length} images for a request of ${request.n}; only the first ${request.n} were downloaded`)
  }
  // A synchronous answer's URLs are collected even while stopping: they are paid for and exist nowhere else.
  const signal = entry?.urls ? run.hard : run.either
  if (entry?.urls) run.inFlight.set(job.id, { id: job.id, provider: job.provider, stage: 'download' })
  const images: ImageRecord[] = []
  try {
    for (const image of produced) {
      await journal.flush()
      const bytes = 'bytes' in image ? image.bytes : await downloadResult(provider, image.url, job, context, signal)
      const accepted = await acceptResult(bytes, expected, context.store)
      warnings.push(...accepted.warnings)
      images.push(accepted.image)
    }
  } catch (error) {
    // Images of a synchronous answer already stored are kept: the job asks only for the rest.
    if (!entry && images.length > 0 && error instanceof ProviderError) {
      warnings.push(`${error.message} — the ${images.length} image(s) before it are kept`)
      return { images, warnings, result }
    }
    throw await paidResultLost(error, entry, provider, journal, run)
  } finally {
    run.inFlight.delete(job.id)
  }
  return { images, warnings, result }
}

/**
 * A paid result that could not be collected (download refused, undecodable bytes). The journal
 * entry stays while the result may still be fetched — until its URL's lifetime has surely passed
 * — so a rerun collects it instead of paying again.
 */
async function paidResultLost(
  error: unknown,
  entry: JournalEntry | undefined,
  provider: ImageEditProvider,
  journal: JournalWriter,
  run: RunState,
): Promise<unknown> {
  if (run.either.aborted && ImagesEditError.is(error) && error.code === 'ABORTED') return error
  if (!(error instanceof ProviderError)) return error
  if (!entry) {
    return markBilled(
      new ProviderError(`${error.message} — the call was billed and its result cannot be collected again`, { provider: error.provider, stage: error.stage }),
      'yes',
    )
  }
  const lifetime = provider.resultLifetimeMs ?? DEFAULT_RESULT_LIFETIME_MS
  const age = Date.now() - Date.parse(entry.submittedAt)
  if (Number.isFinite(age) && age > lifetime) {
    await journal.delete(entry.key, entry.take, entry.firstIndex)
    return markBilled(
      new ProviderError(`${error.message} — the result was billed, and its URL's lifetime (${Math.round(lifetime / 3_600_000)} h) has passed; it is lost`, {
        provider: error.provider,
        stage: error.stage,
      }),
      'yes',
      entry.taskId,
    )
  }
  return markBilled(
    new ProviderError(
      `${error.message} — the result was billed; ${entry.provider} task ${entry.taskId} stays journaled: rerun \`images-edit build\` to download it again (not paid again)`,
      { provider: error.provider, stage: error.stage, ...(error.status !== undefined ? { status: error.status } : {}) },
    ),
    'yes',
    entry.taskId,
  )
}

/** How long a provider's result URLs stay downloadable when it does not say (toapis documents 24 h). */
export const DEFAULT_RESULT_LIFETIME_MS = 24 * 3_600_000

/**
 * The paid part of a job: a synchronous call, or submit (journaled) and poll; or, when the
 * journal holds this request from an earlier run, that run's task or URLs (not paid again).
 */
async function callProvider(
  provider: ImageEditProvider,
  request: EditRequest,
  planned: PlannedJob,
  context: RunnerContext,
  gate: ProviderGate,
  run: RunState,
  attempts: { paid: number },
  journal: JournalWriter,
): Promise<{ result: EditResult; entry?: JournalEntry }> {
  const { job } = planned
  const editContext = (signal: AbortSignal): EditContext => ({
    signal,
    onProgress: (progress) => context.emit({ type: 'job:progress', id: job.id, ...progress }),
    ...(context.uploads ? { uploads: context.uploads } : {}),
  })
  const free = editContext(run.either)
  const onRetry = retryNote(context, job.id)
  const newEntry = (taskId: string, extra: Partial<JournalEntry> = {}): JournalEntry => ({
    key: job.key,
    take: planned.take,
    firstIndex: request.firstIndex,
    count: request.n,
    provider: job.provider,
    model: job.model,
    taskId,
    submittedAt: new Date().toISOString(),
    format: request.format,
    ...(request.size ? { size: request.size } : {}),
    ...extra,
  })

  const earlier = await context.journal.get(job.key, planned.take, request.firstIndex)
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

  if (provider.submit && provider.poll) {
    let entry = earlier
    if (!entry) {
      const prepared = provider.prepare
        ? await withRetries(() => provider.prepare?.(request, free) as Promise<unknown>, FREE_RETRIES, { signal: run.either, onRetry })
        : undefined
      const submit = provider.submit.bind(provider)
      const { taskId } = await paidCall(() => submit(request, prepared, editContext(run.hard)), 'submit', job, gate, run, attempts)
      entry = newEntry(taskId)
      await journal.put(entry)
      context.emit({ type: 'job:progress', id: job.id, stage: 'submitted', taskId })
    }
    const current = entry
    const status = await waitForTask(provider, entry, context.limits(job.provider), free, gate, onRetry, journal).catch(async (error: unknown) => {
      if (journal.unsaved > 0 && ImagesEditError.is(error) && error.code === 'ABORTED') {
        // The id lives only in memory (the journal could not be written): say so, with the id.
        throw markBilled(
          new ImagesEditError(
            'ABORTED',
            `interrupted before ${job.provider} task ${current.taskId} was collected, and the journal could not be written: it was billed, and a rerun cannot resume it — check the ${job.provider} console`,
          ),
          'yes',
          current.taskId,
        )
      }
      if (
        error instanceof ProviderError &&
        !error.retryable &&
        (error.status === 404 || error.providerCode === 'task_not_exist' || error.providerCode === 'task_not_found')
      ) {
        await journal.delete(job.key, planned.take, request.firstIndex)
      }
      throw error
    })
    if (status.state === 'failed') {
      // A failed task is refunded (providers.md §1.4): nothing paid is lost by forgetting it.
      await journal.delete(job.key, planned.take, request.firstIndex)
      throw new ProviderError(`${job.provider} task ${entry.taskId} failed (${status.code}): ${status.message}`, {
        provider: job.provider,
        stage: 'poll',
        providerCode: status.code,
      })
    }
    return {
      entry,
      result: {
        images: status.urls.map((url) => ({ url })),
        taskId: entry.taskId,
        ...(status.usage ? { usage: status.usage } : {}),
        ...(status.revisedPrompt ? { revisedPrompt: status.revisedPrompt } : {}),
        warnings: [],
      },
    }
  }

  if (earlier?.urls) return { entry: earlier, result: { images: earlier.urls.map((url) => ({ url })), taskId: earlier.taskId, warnings: [] } }
  if (!provider.generate) throw new ImagesEditError('INTERNAL', `provider ${provider.id} implements neither generate nor submit/poll`, { userFacing: false })
  const prepared = provider.prepare
    ? await withRetries(() => provider.prepare?.(request, free) as Promise<unknown>, FREE_RETRIES, { signal: run.either, onRetry })
    : undefined
  const generateCall = provider.generate.bind(provider)
  let result: EditResult
  try {
    result = await paidCall(() => generateCall(request, prepared, editContext(run.hard)), 'generate', job, gate, run, attempts)
  } catch (error) {
    if (error instanceof ProviderError && error.billedTaskId) {
      // Accepted and billed, nothing handed back, no way to ask later: remember it so no rerun pays again unawares.
      await journal.put(newEntry(error.billedTaskId, { uncollectable: error.message }))
      throw markBilled(error, 'yes', error.billedTaskId)
    }
    throw error
  }
  // URLs are journaled before they are downloaded: a failed download is retried by the next run, not paid again.
  const urls = result.images.flatMap((image) => ('url' in image ? [image.url] : []))
  if (urls.length === 0) return { result }
  const entry = newEntry(result.taskId ?? `${job.provider}-${Date.now()}`, { urls: urls.slice(0, request.n) })
  await journal.put(entry)
  return { result, entry }
}

/**
 * One paid request through the provider's rate gate. It is sent only if the run is not stopping;
 * once sent it is answered even while the run stops (only `abandon` cuts it off). A refusal that
 * proves nothing was accepted is retried later, outside the job's slots; anything else is final
 * and, when the service may have accepted it, says so.
 */
async function paidCall<T>(
  call: () => Promise<T>,
  stage: 'submit' | 'generate',
  job: Job,
  gate: ProviderGate,
  run: RunState,
  attempts: { paid: number },
): Promise<T> {
  try {
    const value = await gate.paid(async () => {
      if (run.stop.aborted || run.hard.aborted) throw new ImagesEditError('ABORTED', 'interrupted before the paid request was sent')
      attempts.paid++
      run.inFlight.set(job.id, { id: job.id, provider: job.provider, stage })
      try {
        return await call()
      } finally {
        run.inFlight.delete(job.id)
      }
    })
    // Attempts count per request: the next chunk's refusals get the full allowance.
    attempts.paid = 0
    return value
  } catch (error) {
    if (run.hard.aborted && !(ImagesEditError.is(error) && error.message.startsWith('interrupted before'))) {
      throw markBilled(
        new ImagesEditError('ABORTED', `abandoned while ${job.provider} was answering a paid ${stage} request: it may have been billed`),
        'maybe',
      )
    }
    if (mayRetry(error, PAID_RETRIES) && attempts.paid < PAID_RETRIES.attempts) {
      const delayMs = retryDelay(error, attempts.paid - 1, PAID_RETRIES)
      throw new RetryLater(
        delayMs,
        `${(error as Error).message} — nothing was billed; retry ${attempts.paid} of ${PAID_RETRIES.attempts - 1} in ${formatWait(delayMs)} (slot released)`,
      )
    }
    throw mayHaveBeenBilled(error)
  }
}

function formatWait(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes}m ${Math.round((ms - minutes * 60_000) / 1000)}s`
}

function retryNote(context: RunnerContext, id: string) {
  return ({ attempt, delayMs, error }: { attempt: number; delayMs: number; error: unknown }) =>
    context.emit({ type: 'job:progress', id, stage: 'waiting', note: `retry ${attempt} in ${formatWait(delayMs)}: ${(error as Error).message}` })
}

/**
 * A paid call that failed after it may have reached the service (reset, timeout, 5xx, garbled
 * answer) is not repeated — and the user should know a rerun might pay twice.
 */
function mayHaveBeenBilled(error: unknown): unknown {
  if (!(error instanceof ProviderError) || error.notAccepted || !(error.stage === 'submit' || error.stage === 'generate')) return error
  if (!error.retryable && error.status !== undefined && error.status < 500) return error
  return markBilled(
    new ProviderError(`${error.message} — the request may have reached ${error.provider} and been billed; check its console before building this job again`, {
      provider: error.provider,
      stage: error.stage,
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(error.providerCode !== undefined ? { providerCode: error.providerCode } : {}),
      ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
    }),
    'maybe',
  )
}

/**
 * Longest a task may report a status images-edit does not know before polling stops (its id stays
 * journaled); shorter with a short poll interval (20 intervals, at least 1 s).
 */
export const UNKNOWN_STATUS_LIMIT_MS = 120_000

/**
 * Polls until the task ends. The first poll comes near the expected latency; later ones follow
 * the reported progress (time left ≈ elapsed × remaining / done), with jitter so many tasks
 * spread out, and always through the provider's status-rate gate. A journal entry that could not
 * be written is retried at every poll.
 */
async function waitForTask(
  provider: ImageEditProvider,
  entry: JournalEntry,
  limits: ProviderLimits,
  context: EditContext,
  gate: ProviderGate,
  onRetry: (info: { attempt: number; delayMs: number; error: unknown }) => void,
  journal: JournalWriter,
): Promise<Extract<TaskStatus, { state: 'completed' | 'failed' }>> {
  const { taskId } = entry
  const maxInterval = limits.maxPollIntervalMs ?? 10_000
  const timeout = limits.taskTimeoutMs ?? 900_000
  const submittedAt = Date.parse(entry.submittedAt)
  const start = Number.isFinite(submittedAt) ? submittedAt : Date.now()
  let delay = Math.max(0, (limits.pollIntervalMs ?? 5_000) - (Date.now() - start))
  const poll = provider.poll?.bind(provider)
  if (!poll) throw new ImagesEditError('INTERNAL', 'poll missing', { userFacing: false })
  let unknownSince: number | undefined
  const polledFrom = Date.now()
  for (let first = true; ; first = false) {
    // Jitter only forward (an early poll is a wasted request), and little on the first poll, which
    // is aimed at the expected latency; later ones spread more so many tasks do not poll together.
    await sleep(delay * (1 + Math.random() * (first ? 0.05 : 0.2)), undefined, { signal: context.signal }).catch(() => {
      throw new ImagesEditError('ABORTED', 'interrupted')
    })
    await journal.flush()
    const status = await withRetries(() => gate.status(() => poll(taskId, context)), FREE_RETRIES, { signal: context.signal, onRetry })
    if (status.state === 'completed' || status.state === 'failed') return status
    context.onProgress({ stage: status.state, taskId, ...(status.percent !== undefined ? { percent: status.percent } : {}) })
    const now = Date.now()
    const elapsed = now - start
    const unknown = (status as { unknownStatus?: string }).unknownStatus
    unknownSince = unknown === undefined ? undefined : (unknownSince ?? now)
    const unknownLimit = Math.min(timeout, UNKNOWN_STATUS_LIMIT_MS, Math.max(20 * (limits.pollIntervalMs ?? 5_000), 1_000))
    if (unknown !== undefined && unknownSince !== undefined && now - unknownSince >= unknownLimit) {
      throw new ProviderError(
        `${provider.id} task ${taskId} reports the status "${unknown}", which images-edit does not know; stopped polling after ${Math.round((now - unknownSince) / 1000)}s. Its id stays journaled: rerun images-edit build to ask again (not paid again), or check the ${provider.id} console`,
        { provider: provider.id, stage: 'poll', retryable: true },
      )
    }
    // Only this run's own polling counts against the timeout: a resumed old task gets its full time.
    if (elapsed > timeout && now - polledFrom > Math.min(timeout, 60_000)) {
      throw new ProviderError(
        `${provider.id} task ${taskId} is still ${status.state} after ${Math.round(elapsed / 1000)}s; its id is journaled — rerun images-edit build to resume polling it (it will not be paid again)`,
        {
          provider: provider.id,
          stage: 'poll',
          retryable: true,
        },
      )
    }
    const percent = status.percent ?? 0
    delay = percent > 0 && percent < 100 ? (elapsed * (100 - percent)) / percent : Math.max(delay * 1.5, 1_000)
    delay = Math.min(Math.max(delay, 250), maxInterval)
  }
}

function downloadResult(provider: ImageEditProvider, url: string, job: Job, context: RunnerContext, signal: AbortSignal): Promise<Uint8Array> {
  context.emit({ type: 'job:progress', id: job.id, stage: 'downloading' })
  return downloadFor(provider, url, job.id, context, signal)
}

/**
 * The journal as one job writes it. A task id the provider returned is never dropped inside the
 * run: when the entry cannot be written (read-only or full disk) the id stays in memory, the job
 * keeps collecting it, the write is retried at every step, and a warning names the task.
 */
class JournalWriter {
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

  /** Retries entries that could not be written. */
  /** Entries held in memory only. */
  get unsaved(): number {
    return this.unsavedEntries.size
  }

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

function toRequest(job: Job, count: number, firstIndex: number, take: number): EditRequest {
  return {
    jobKey: job.key,
    model: job.model,
    prompt: job.prompt,
    refs: job.refs.map((ref) => ref.input),
    ...(job.mask ? { mask: job.mask.input } : {}),
    ratio: job.params.ratio,
    resolution: job.params.resolution,
    ...(job.size ? { size: job.size } : {}),
    n: count,
    firstIndex,
    take,
    quality: job.params.quality,
    format: job.params.format,
    ...(job.params.compression !== undefined ? { compression: job.params.compression } : {}),
    ...(job.params.background !== undefined ? { background: job.params.background } : {}),
    ...(job.params.inputFidelity !== undefined ? { inputFidelity: job.params.inputFidelity } : {}),
    ...(job.params.moderation !== undefined ? { moderation: job.params.moderation } : {}),
    ...(job.seed !== undefined ? { seed: job.seed } : {}),
  }
}

function appendRun(take: TakeRecord, job: Job, firstIndex: number, images: ImageRecord[], result: EditResult, warnings: readonly string[]): void {
  take.images.push(...images)
  take.runs.push({
    at: new Date().toISOString(),
    provider: job.provider,
    model: job.model,
    firstIndex,
    count: images.length,
    ...(result.taskId ? { taskId: result.taskId } : {}),
    ...(result.usage ? { usage: result.usage } : {}),
    ...(result.revisedPrompt ? { revisedPrompt: result.revisedPrompt } : {}),
    warnings: [...warnings],
  })
}

function toJobError(error: unknown, run: RunState): JobError {
  const facts = error && typeof error === 'object' ? billing.get(error) : undefined
  const extra = facts ? { billed: facts.billed, ...(facts.taskId ? { taskId: facts.taskId } : {}) } : {}
  if (ImagesEditError.is(error)) return { code: error.code, message: error.message, ...extra }
  if (run.either.aborted) return { code: 'ABORTED', message: 'interrupted', ...extra }
  if (isFsError(error)) return { code: 'STORE', message: fsError(error, { doing: 'a file operation of the job' }).message, ...extra }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), ...extra }
}

/**
 * Collects journaled tasks that no job of this run asked for — paid by an earlier run whose recipe
 * has changed since, or of a take nobody builds now — into the store, so a paid result is never
 * left behind: it becomes a take of its key, used again if the recipe returns to that version.
 * Free (polls and downloads); an entry whose provider cannot be created (no key) stays journaled.
 */
export async function collectJournaled(entries: readonly JournalEntry[], context: RunnerContext): Promise<number> {
  let collected = 0
  const hard = context.abandon ?? new AbortController().signal
  const run: RunState = { stop: context.signal, hard, either: AbortSignal.any([context.signal, hard]), inFlight: new Map() }
  const gates = context.gates ?? createRunnerGates(context.concurrency, context.limits)
  for (const entry of entries) {
    if (entry.uncollectable || run.stop.aborted) continue
    const id = `journal:${entry.taskId}`
    try {
      const provider = context.provider(entry.provider as ProviderId)
      await context.keyLocks.with(entry.key, run.either, async () => {
        const journal = new JournalWriter(context.journal, id, context.emit)
        const current = await context.journal.get(entry.key, entry.take, entry.firstIndex)
        if (!current) return
        const urls = await journaledUrls(provider, current, context, gates.provider(provider.id), run, journal)
        const expected = { provider: provider.id, format: current.format ?? 'png', ...(current.size ? { size: current.size } : {}) }
        const images: ImageRecord[] = []
        const warnings: string[] = []
        for (const url of urls.slice(0, current.count)) {
          const accepted = await acceptResult(await downloadFor(provider, url, id, context, run.either), expected, context.store)
          images.push(accepted.image)
          warnings.push(...accepted.warnings)
        }
        await storeCollected(current, images, warnings, context)
        await journal.delete(current.key, current.take, current.firstIndex)
        collected++
        context.emit({
          type: 'warning',
          message: `collected ${current.provider} task ${current.taskId}, paid by an earlier run for a recipe version no job builds now; it is kept in the store (used again if the recipe returns to that version)`,
        })
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

async function journaledUrls(
  provider: ImageEditProvider,
  entry: JournalEntry,
  context: RunnerContext,
  gate: ProviderGate,
  run: RunState,
  journal: JournalWriter,
): Promise<string[]> {
  if (entry.urls) return entry.urls
  if (!provider.poll) throw new ProviderError(`${provider.id} cannot be asked about a task`, { provider: provider.id, stage: 'poll' })
  const editContext: EditContext = { signal: run.either, onProgress: () => {} }
  const status = await waitForTask(provider, entry, context.limits(provider.id), editContext, gate, () => {}, journal)
  if (status.state === 'failed') {
    await journal.delete(entry.key, entry.take, entry.firstIndex)
    throw new ProviderError(`the task failed (${status.code}): ${status.message}`, { provider: provider.id, stage: 'poll' })
  }
  return status.urls
}

function downloadFor(provider: ImageEditProvider, url: string, id: string, context: RunnerContext, signal: AbortSignal): Promise<Uint8Array> {
  const fetchResult = provider.download?.bind(provider)
  if (!fetchResult) throw new ImagesEditError('INTERNAL', `provider ${provider.id} returned a URL but cannot download`, { userFacing: false })
  return withRetries(() => fetchResult(url, { signal, onProgress: () => {} }), FREE_RETRIES, { signal, onRetry: retryNote(context, id) })
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
  let take = record.takes.find((item) => item.take === entry.take)
  if (take && take.images.length !== entry.firstIndex) take = undefined
  if (!take) {
    const number = record.takes.some((item) => item.take === entry.take) ? Math.max(...record.takes.map((item) => item.take)) + 1 : entry.take
    take = { take: number, images: [], runs: [] }
    record.takes.push(take)
    record.takes.sort((a, b) => a.take - b.take)
  }
  take.images.push(...images)
  take.runs.push({
    at: new Date().toISOString(),
    provider: entry.provider,
    model: entry.model,
    firstIndex: entry.firstIndex,
    count: images.length,
    taskId: entry.taskId,
    warnings,
  })
  await context.store.putRecord(context.redact ? context.redact(record) : record)
}
