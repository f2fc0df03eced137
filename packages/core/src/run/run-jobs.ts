import { setTimeout as sleep } from 'node:timers/promises'
import pLimit from 'p-limit'
import pThrottle from 'p-throttle'
import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { PlannedJob } from '../plan/plan.js'
import { ProviderError } from '../providers/http.js'
import type { EditContext, EditRequest, EditResult, ImageEditProvider, OutputFormat, ProviderId, TaskStatus, UploadCache } from '../providers/provider.js'
import type { Journal } from '../store/journal.js'
import type { KeyLocks } from '../store/key-lock.js'
import type { ImageRecord, JobRecord, ResultStore, TakeRecord } from '../store/store.js'
import { crashPoint } from './crash-points.js'
import type { EventListener, JobError } from './events.js'
import { FREE_RETRIES, PAID_RETRIES, withRetries } from './retry.js'

/** Largest image accepted from a provider; anything bigger is not a 4k edit. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024

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
  signal: AbortSignal
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
 * retried, paid calls only when surely not accepted; task ids journaled the moment they exist;
 * every result verified and stored before the record that names it. One failing job never stops
 * the others unless `keepGoing` is off.
 */
export async function runJobs(jobs: readonly PlannedJob[], context: RunnerContext): Promise<Map<string, JobOutcome>> {
  const outcomes = new Map<string, JobOutcome>()
  const gates = context.gates ?? createRunnerGates(context.concurrency, context.limits)
  const stop = new AbortController()
  const signal = AbortSignal.any([context.signal, stop.signal])
  const gate = (id: ProviderId) => gates.provider(id)
  const global = gates.global

  for (const planned of jobs) {
    context.emit({ type: 'job:queued', id: planned.job.id, provider: planned.job.provider, newImages: planned.newImages, reasons: planned.reasons })
  }
  await Promise.all(
    jobs.map((planned) =>
      // Waiting for a provider slot must not hold a global slot, or one busy provider would starve the rest.
      gate(planned.job.provider).limit(() =>
        global(async () => {
          const started = Date.now()
          const { job } = planned
          if (signal.aborted) {
            outcomes.set(job.id, { ok: false, error: { code: 'ABORTED', message: 'not started: the run was interrupted' } })
            return
          }
          context.emit({ type: 'job:started', id: job.id, provider: job.provider })
          try {
            await context.ingest(planned)
            const images = await context.keyLocks.with(
              job.key,
              signal,
              () => generate(planned, context, gate(job.provider), signal),
              () =>
                context.emit({
                  type: 'job:progress',
                  id: job.id,
                  stage: 'waiting',
                  note: 'another images-edit process is making this job; waiting for its result',
                }),
            )
            await context.commit(planned, images)
            outcomes.set(job.id, { ok: true, images })
            context.emit({
              type: 'job:done',
              id: job.id,
              provider: job.provider,
              outputs: job.outputs,
              newImages: planned.newImages,
              elapsedMs: Date.now() - started,
            })
          } catch (error) {
            const jobError = toJobError(error, signal)
            outcomes.set(job.id, { ok: false, error: jobError })
            context.emit({ type: 'job:failed', id: job.id, provider: job.provider, error: jobError, elapsedMs: Date.now() - started })
            if (!context.keepGoing) stop.abort(new ImagesEditError('ABORTED', 'stopped after a failure (--no-keep-going)'))
          }
        }),
      ),
    ),
  )
  return outcomes
}

/** A wrapper that spreads calls to at most `perMinute` a minute (smoothly, not in bursts). */
function rateLimited(perMinute: number | undefined): <T>(call: () => Promise<T>) => Promise<T> {
  if (!perMinute) return (call) => call()
  const limit = Math.max(1, Math.floor(perMinute / 60))
  const throttled = pThrottle({ limit, interval: Math.round((60_000 * limit) / perMinute) })((call: () => Promise<unknown>) => call())
  return <T>(call: () => Promise<T>) => throttled(call) as Promise<T>
}

/** Makes the images of one job that are still missing; runs holding the job key's lock. */
async function generate(planned: PlannedJob, context: RunnerContext, gate: ProviderGate, signal: AbortSignal): Promise<ImageRecord[]> {
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
  while (take.images.length < job.n) {
    if (signal.aborted) throw new ImagesEditError('ABORTED', 'interrupted')
    const count = Math.min(job.n - take.images.length, capabilities.n.max)
    const request = toRequest(job, count, take.images.length, planned.take)
    const result = await callProvider(provider, request, planned, context, gate, signal)
    const images: ImageRecord[] = []
    try {
      for (const image of result.images) {
        const bytes = 'bytes' in image ? image.bytes : await downloadResult(provider, image.url, job, context, signal)
        crashPoint('mid-download')
        images.push(await verifyAndStore(bytes, job, context.store))
        crashPoint('mid-commit-store')
      }
      if (images.length !== count)
        throw new ProviderError(`${job.provider} returned ${images.length} image(s) for a request of ${count}`, { provider: job.provider, stage: 'download' })
    } catch (error) {
      // Results that are gone or unusable cannot be collected by polling again: forget the task.
      if (error instanceof ProviderError && !error.retryable) await context.journal.delete(job.key, planned.take, request.firstIndex)
      throw error
    }
    appendRun(take, job, request.firstIndex, images, result)
    // Objects first, then the record naming them, then the journal entry goes: a crash anywhere
    // leaves either a resumable task or a stored result, never a lost one.
    await context.store.putRecord(record)
    await context.journal.delete(job.key, planned.take, request.firstIndex)
  }
  return take.images.slice(0, job.n)
}

/** The paid part of a job: a synchronous call, or submit (journaled) and poll. */
async function callProvider(
  provider: ImageEditProvider,
  request: EditRequest,
  planned: PlannedJob,
  context: RunnerContext,
  gate: ProviderGate,
  signal: AbortSignal,
): Promise<EditResult> {
  const { job } = planned
  const editContext: EditContext = {
    signal,
    onProgress: (progress) => context.emit({ type: 'job:progress', id: job.id, ...progress }),
    ...(context.uploads ? { uploads: context.uploads } : {}),
  }
  const onRetry = ({ attempt, delayMs, error }: { attempt: number; delayMs: number; error: unknown }) =>
    context.emit({
      type: 'job:progress',
      id: job.id,
      stage: 'waiting',
      note: `retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s: ${(error as Error).message}`,
    })

  if (provider.submit && provider.poll) {
    let entry = await context.journal.get(job.key, planned.take, request.firstIndex)
    if (entry) {
      context.emit({
        type: 'job:progress',
        id: job.id,
        stage: 'resumed',
        taskId: entry.taskId,
        note: 'resuming a task submitted by an earlier run (not paid again)',
      })
    } else {
      const prepared = provider.prepare
        ? await withRetries(() => provider.prepare?.(request, editContext) as Promise<unknown>, FREE_RETRIES, { signal, onRetry })
        : undefined
      const submit = provider.submit.bind(provider)
      crashPoint('after-upload')
      const { taskId } = await withRetries(() => gate.paid(() => submit(request, prepared, editContext)), PAID_RETRIES, { signal, onRetry }).catch(
        (error: unknown) => {
          throw mayHaveBeenBilled(error)
        },
      )
      entry = {
        key: job.key,
        take: planned.take,
        firstIndex: request.firstIndex,
        count: request.n,
        provider: job.provider,
        model: job.model,
        taskId,
        submittedAt: new Date().toISOString(),
      }
      await context.journal.put(entry)
      crashPoint('after-submit')
      context.emit({ type: 'job:progress', id: job.id, stage: 'submitted', taskId })
    }
    const status = await waitForTask(provider, entry.taskId, Date.parse(entry.submittedAt), context.limits(job.provider), editContext, gate, onRetry).catch(
      async (error: unknown) => {
        if (
          error instanceof ProviderError &&
          !error.retryable &&
          (error.status === 404 || error.providerCode === 'task_not_exist' || error.providerCode === 'task_not_found')
        ) {
          await context.journal.delete(job.key, planned.take, request.firstIndex)
        }
        throw error
      },
    )
    if (status.state === 'failed') {
      await context.journal.delete(job.key, planned.take, request.firstIndex)
      throw new ProviderError(`${job.provider} task ${entry.taskId} failed (${status.code}): ${status.message}`, {
        provider: job.provider,
        stage: 'poll',
        providerCode: status.code,
      })
    }
    return {
      images: status.urls.map((url) => ({ url })),
      taskId: entry.taskId,
      ...(status.usage ? { usage: status.usage } : {}),
      ...(status.revisedPrompt ? { revisedPrompt: status.revisedPrompt } : {}),
      warnings: [],
    }
  }

  if (!provider.generate) throw new ImagesEditError('INTERNAL', `provider ${provider.id} implements neither generate nor submit/poll`, { userFacing: false })
  const prepared = provider.prepare
    ? await withRetries(() => provider.prepare?.(request, editContext) as Promise<unknown>, FREE_RETRIES, { signal, onRetry })
    : undefined
  const generateCall = provider.generate.bind(provider)
  return withRetries(() => gate.paid(() => generateCall(request, prepared, editContext)), PAID_RETRIES, { signal, onRetry }).catch((error: unknown) => {
    throw mayHaveBeenBilled(error)
  })
}

/**
 * A paid call that failed after it may have reached the service (reset, timeout, 5xx, garbled
 * answer) is not repeated — and the user should know a rerun might pay twice.
 */
function mayHaveBeenBilled(error: unknown): unknown {
  if (!(error instanceof ProviderError) || error.notAccepted || !(error.stage === 'submit' || error.stage === 'generate')) return error
  if (!error.retryable && error.status !== undefined && error.status < 500) return error
  return new ProviderError(
    `${error.message} — the request may have reached ${error.provider} and been billed; check its console before building this job again`,
    {
      provider: error.provider,
      stage: error.stage,
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(error.providerCode !== undefined ? { providerCode: error.providerCode } : {}),
      ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
    },
  )
}

/**
 * Polls until the task ends. The first poll comes near the expected latency; later ones follow
 * the reported progress (time left ≈ elapsed × remaining / done), with jitter so many tasks
 * spread out, and always through the provider's status-rate gate.
 */
async function waitForTask(
  provider: ImageEditProvider,
  taskId: string,
  submittedAt: number,
  limits: ProviderLimits,
  context: EditContext,
  gate: ProviderGate,
  onRetry: (info: { attempt: number; delayMs: number; error: unknown }) => void,
): Promise<Extract<TaskStatus, { state: 'completed' | 'failed' }>> {
  const maxInterval = limits.maxPollIntervalMs ?? 10_000
  const timeout = limits.taskTimeoutMs ?? 900_000
  const start = Number.isFinite(submittedAt) ? submittedAt : Date.now()
  let delay = Math.max(0, (limits.pollIntervalMs ?? 5_000) - (Date.now() - start))
  const poll = provider.poll?.bind(provider)
  if (!poll) throw new ImagesEditError('INTERNAL', 'poll missing', { userFacing: false })
  for (let first = true; ; first = false) {
    // Jitter only forward (an early poll is a wasted request), and little on the first poll, which
    // is aimed at the expected latency; later ones spread more so many tasks do not poll together.
    await sleep(delay * (1 + Math.random() * (first ? 0.05 : 0.2)), undefined, { signal: context.signal }).catch(() => {
      throw new ImagesEditError('ABORTED', 'interrupted')
    })
    const status = await withRetries(() => gate.status(() => poll(taskId, context)), FREE_RETRIES, { signal: context.signal, onRetry })
    crashPoint('mid-poll')
    if (status.state === 'completed' || status.state === 'failed') return status
    context.onProgress({ stage: status.state, taskId, ...(status.percent !== undefined ? { percent: status.percent } : {}) })
    const elapsed = Date.now() - start
    if (elapsed > timeout) {
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

async function downloadResult(provider: ImageEditProvider, url: string, job: Job, context: RunnerContext, signal: AbortSignal): Promise<Uint8Array> {
  const fetchResult = provider.download?.bind(provider)
  if (!fetchResult) throw new ImagesEditError('INTERNAL', `provider ${provider.id} returned a URL but cannot download`, { userFacing: false })
  const editContext: EditContext = { signal, onProgress: (progress) => context.emit({ type: 'job:progress', id: job.id, ...progress }) }
  context.emit({ type: 'job:progress', id: job.id, stage: 'downloading' })
  return withRetries(() => fetchResult(url, editContext), FREE_RETRIES, {
    signal,
    onRetry: ({ attempt, delayMs, error }) =>
      context.emit({
        type: 'job:progress',
        id: job.id,
        stage: 'downloading',
        note: `retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s: ${(error as Error).message}`,
      }),
  })
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

function appendRun(take: TakeRecord, job: Job, firstIndex: number, images: ImageRecord[], result: EditResult): void {
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
    warnings: result.warnings,
  })
}

/** Decodes the header with sharp to prove it is an image of the requested format and size, then stores it. */
async function verifyAndStore(bytes: Uint8Array, job: Job, store: ResultStore): Promise<ImageRecord> {
  const fail = (message: string) => new ProviderError(`${job.provider} ${message}`, { provider: job.provider, stage: 'download' })
  if (bytes.byteLength > MAX_RESULT_BYTES) throw fail(`returned an image of ${bytes.byteLength} bytes, over the ${MAX_RESULT_BYTES}-byte cap`)
  const { default: sharp } = await import('sharp')
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>
  try {
    meta = await sharp(bytes).metadata()
  } catch {
    throw fail('returned data that is not an image')
  }
  const format = normalizeFormat(meta.format)
  if (format !== job.params.format) throw fail(`returned ${meta.format ?? 'an unknown format'}, expected ${job.params.format}`)
  const width = meta.width ?? 0
  const height = meta.height ?? 0
  if (job.size && (width !== job.size.width || height !== job.size.height)) {
    throw fail(`returned ${width}×${height}, expected ${job.size.width}×${job.size.height}`)
  }
  const sha = await store.putObject(bytes)
  return { sha256: sha, width, height, format, bytes: bytes.byteLength }
}

function normalizeFormat(format: string | undefined): OutputFormat | undefined {
  if (format === 'png' || format === 'jpeg' || format === 'webp') return format
  return undefined
}

function toJobError(error: unknown, signal: AbortSignal): JobError {
  if (signal.aborted) return { code: 'ABORTED', message: 'interrupted' }
  if (ImagesEditError.is(error)) return { code: error.code, message: error.message }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) }
}
