import pLimit from 'p-limit'
import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { PlannedJob } from '../plan/plan.js'
import type { EditRequest, ImageEditProvider, OutputFormat, ProviderId } from '../providers/provider.js'
import type { ImageRecord, JobRecord, ResultStore, TakeRecord } from '../store/store.js'
import type { EventListener, JobError } from './events.js'

/** Largest image accepted from a provider; anything bigger is not a 4k edit. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024

/** What the runner needs; everything is injected so tests and the Vite plugin can supply their own. */
export interface RunnerContext {
  store: ResultStore
  provider(id: ProviderId): ImageEditProvider
  /** Global cap on jobs in flight. */
  concurrency: number
  /** Per-provider cap (defaults to the global cap). */
  providerConcurrency(id: ProviderId): number | undefined
  /** Stop on the first failure instead of finishing the other jobs. @default true */
  keepGoing: boolean
  signal: AbortSignal
  emit: EventListener
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

/**
 * Runs the `generate` jobs of a plan: global and per-provider concurrency, one provider call per
 * chunk of at most `capabilities.n.max` images, every result verified and stored before the
 * record that names it. One failing job never stops the others (unless `keepGoing` is off).
 */
export async function runJobs(jobs: readonly PlannedJob[], context: RunnerContext): Promise<Map<string, JobOutcome>> {
  const outcomes = new Map<string, JobOutcome>()
  const global = pLimit(Math.max(1, context.concurrency))
  const perProvider = new Map<ProviderId, ReturnType<typeof pLimit>>()
  const stop = new AbortController()
  const signal = AbortSignal.any([context.signal, stop.signal])
  const limiter = (id: ProviderId) => {
    let limit = perProvider.get(id)
    if (!limit) {
      limit = pLimit(Math.max(1, context.providerConcurrency(id) ?? context.concurrency))
      perProvider.set(id, limit)
    }
    return limit
  }

  for (const planned of jobs) {
    context.emit({ type: 'job:queued', id: planned.job.id, provider: planned.job.provider, newImages: planned.newImages, reasons: planned.reasons })
  }
  await Promise.all(
    jobs.map((planned) =>
      // Waiting for a provider slot must not hold a global slot, or one busy provider would starve the rest.
      limiter(planned.job.provider)(() =>
        global(async () => {
          const started = Date.now()
          if (signal.aborted) {
            outcomes.set(planned.job.id, { ok: false, error: { code: 'ABORTED', message: 'not started: the run was interrupted' } })
            return
          }
          context.emit({ type: 'job:started', id: planned.job.id, provider: planned.job.provider })
          try {
            const images = await generate(planned, context, signal)
            await context.commit(planned, images)
            outcomes.set(planned.job.id, { ok: true, images })
            context.emit({
              type: 'job:done',
              id: planned.job.id,
              provider: planned.job.provider,
              outputs: planned.job.outputs,
              newImages: planned.newImages,
              elapsedMs: Date.now() - started,
            })
          } catch (error) {
            const jobError = toJobError(error, signal)
            outcomes.set(planned.job.id, { ok: false, error: jobError })
            context.emit({ type: 'job:failed', id: planned.job.id, provider: planned.job.provider, error: jobError, elapsedMs: Date.now() - started })
            if (!context.keepGoing) stop.abort(new ImagesEditError('ABORTED', 'stopped after a failure (--no-keep-going)'))
          }
        }),
      ),
    ),
  )
  return outcomes
}

async function generate(planned: PlannedJob, context: RunnerContext, signal: AbortSignal): Promise<ImageRecord[]> {
  const { job } = planned
  const provider = context.provider(job.provider)
  const capabilities = provider.capabilities(job.model)
  await context.ingest(planned)

  const record: JobRecord = planned.record
    ? structuredClone(planned.record)
    : { version: 1, key: job.key, provider: job.provider, model: job.model, selectedTake: planned.take, takes: [] }
  let take = record.takes.find((item) => item.take === planned.take)
  if (!take) {
    take = { take: planned.take, images: [], runs: [] }
    record.takes.push(take)
    record.takes.sort((a, b) => a.take - b.take)
  }
  // Images beyond the servable prefix are dropped from the take: they are regenerated in order.
  take.images = planned.available.slice()
  record.selectedTake = planned.take

  while (take.images.length < job.n) {
    if (signal.aborted) throw signal.reason ?? new ImagesEditError('ABORTED', 'interrupted')
    const count = Math.min(job.n - take.images.length, capabilities.n.max)
    const request = toRequest(job, count, take.images.length)
    const result = await provider.edit(request, {
      signal,
      onProgress: (progress) => context.emit({ type: 'job:progress', id: job.id, ...progress }),
    })
    if (result.images.length !== count) {
      throw new ImagesEditError('PROVIDER', `${job.provider} returned ${result.images.length} image(s) for a request of ${count}`)
    }
    const stored: ImageRecord[] = []
    for (const image of result.images) stored.push(await verifyAndStore(image.bytes, job, context.store))
    appendRun(take, job, request.firstIndex, stored, result)
    // Objects first, then the record naming them: a crash in between leaves unused objects, never a dangling record.
    await context.store.putRecord(record)
  }
  return take.images.slice(0, job.n)
}

function toRequest(job: Job, count: number, firstIndex: number): EditRequest {
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
    quality: job.params.quality,
    format: job.params.format,
    ...(job.params.compression !== undefined ? { compression: job.params.compression } : {}),
    ...(job.params.background !== undefined ? { background: job.params.background } : {}),
    ...(job.params.inputFidelity !== undefined ? { inputFidelity: job.params.inputFidelity } : {}),
    ...(job.params.moderation !== undefined ? { moderation: job.params.moderation } : {}),
    ...(job.seed !== undefined ? { seed: job.seed } : {}),
  }
}

function appendRun(take: TakeRecord, job: Job, firstIndex: number, images: ImageRecord[], result: Awaited<ReturnType<ImageEditProvider['edit']>>): void {
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
  if (bytes.byteLength > MAX_RESULT_BYTES) {
    throw new ImagesEditError('PROVIDER', `${job.provider} returned an image of ${bytes.byteLength} bytes, over the ${MAX_RESULT_BYTES}-byte cap`)
  }
  const { default: sharp } = await import('sharp')
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>
  try {
    meta = await sharp(bytes).metadata()
  } catch {
    throw new ImagesEditError('PROVIDER', `${job.provider} returned data that is not an image`)
  }
  const format = normalizeFormat(meta.format)
  if (format !== job.params.format) {
    throw new ImagesEditError('PROVIDER', `${job.provider} returned ${meta.format ?? 'an unknown format'}, expected ${job.params.format}`)
  }
  const width = meta.width ?? 0
  const height = meta.height ?? 0
  if (job.size && (width !== job.size.width || height !== job.size.height)) {
    throw new ImagesEditError('PROVIDER', `${job.provider} returned ${width}×${height}, expected ${job.size.width}×${job.size.height}`)
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
