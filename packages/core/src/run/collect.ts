import { ImagesEditError } from '../errors.js'
import { ProviderError } from '../providers/http.js'
import type { EditContext, EditResult, ImageEditProvider, ProducedImage } from '../providers/provider.js'
import type { JournalEntry } from '../store/journal.js'
import type { ImageRecord, ResultStore, TakeRecord } from '../store/store.js'
import { markBilled } from './billing.js'
import type { RunState } from './context.js'
import type { ProviderGate } from './gates.js'
import type { JournalWriter } from './journal-writer.js'
import { waitForTask } from './poll.js'
import { FREE_RETRIES, withRetries } from './retry.js'
import type { JobSlots } from './slots.js'
import { acceptResult, type Expected } from './verify.js'

/**
 * Collecting a paid result, the one mechanism behind both a job's requests and the journaled
 * tasks no job asks for any more: a journal entry is settled into URLs ({@link settleEntry}),
 * the images are downloaded, decoded and stored ({@link storeImages}), and a run is added to
 * the take that names them ({@link addRun}).
 */

/** How long a provider's result URLs stay downloadable when it does not say (toapis documents 24 h). */
export const DEFAULT_RESULT_LIFETIME_MS = 24 * 3_600_000

/** What settling a journal entry needs: the free context (signal, progress), the gate and the job's journal. */
export interface SettleOptions {
  free: EditContext
  gate: ProviderGate
  onRetry: (info: { attempt: number; delayMs: number; error: unknown }) => void
  journal: JournalWriter
  /** The job's slots, when a job polls (given back while a refused poll waits, once the task is probably done). */
  slots?: JobSlots
  /**
   * Keep the entry when the service says the task does not exist. Set for tasks no job asks for:
   * a 404 there may come from a wrong base URL, and a paid task id is never dropped on a guess.
   * A job's own entry goes instead, so the job can move on.
   */
  keepMissing?: boolean
}

/**
 * The result a journal entry stands for: its URLs (a synchronous answer, journaled before the
 * download) or its task polled until it ends. A failed task is refunded (providers.md §1.4), so
 * its entry goes; so does the entry of a task the service says does not exist (unless `keepMissing`).
 */
export async function settleEntry(provider: ImageEditProvider, entry: JournalEntry, options: SettleOptions): Promise<EditResult> {
  if (entry.urls) return { images: entry.urls.map((url) => ({ url })), taskId: entry.taskId, warnings: [] }
  if (!provider.poll) throw new ProviderError(`${provider.id} cannot be asked about a task`, { provider: provider.id, stage: 'poll' })
  const { journal } = options
  const status = await waitForTask(provider, entry, {
    context: options.free,
    gate: options.gate,
    onRetry: options.onRetry,
    journal,
    ...(options.slots ? { slots: options.slots } : {}),
  }).catch(async (error: unknown) => {
    if (journal.unsaved > 0 && ImagesEditError.is(error) && error.code === 'ABORTED') {
      // The id lives only in memory (the journal could not be written): say so, with the id.
      throw markBilled(
        new ImagesEditError(
          'ABORTED',
          `interrupted before ${entry.provider} task ${entry.taskId} was collected, and the journal could not be written: it was billed, and a rerun cannot resume it — check the ${entry.provider} console`,
        ),
        'yes',
        entry.taskId,
      )
    }
    if (
      !options.keepMissing &&
      error instanceof ProviderError &&
      !error.retryable &&
      (error.status === 404 || error.providerCode === 'task_not_exist' || error.providerCode === 'task_not_found')
    ) {
      await journal.delete(entry.key, entry.take, entry.firstIndex)
    }
    throw error
  })
  if (status.state === 'failed') {
    await journal.delete(entry.key, entry.take, entry.firstIndex)
    throw new ProviderError(`${entry.provider} task ${entry.taskId} failed (${status.code}): ${status.message}`, {
      provider: provider.id,
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

/** Images stored from one result; `error` is what stopped the rest, if anything did. */
export interface StoredImages {
  images: ImageRecord[]
  warnings: string[]
  error?: unknown
}

/** The bytes of a result's images in order, up to the first that could not be fetched (`error`). */
export interface DownloadedImages {
  bytes: Uint8Array[]
  error?: unknown
}

/** Downloads (when given as URLs), decodes, verifies and stores produced images in order, up to the first failure. */
export async function storeImages(
  provider: ImageEditProvider,
  produced: readonly ProducedImage[],
  expected: Expected,
  store: ResultStore,
  options: DownloadOptions,
): Promise<StoredImages> {
  return acceptImages(await downloadImages(provider, produced, options), expected, store)
}

/** What downloading a result needs: the signal, the job's journal (retried before each download) and progress hooks. */
export interface DownloadOptions {
  signal: AbortSignal
  journal: JournalWriter
  onDownload?: () => void
  onRetry: SettleOptions['onRetry']
}

/** The provider's part of collecting a result: its images' bytes, fetched in order (free, retried). */
export async function downloadImages(provider: ImageEditProvider, produced: readonly ProducedImage[], options: DownloadOptions): Promise<DownloadedImages> {
  const bytes: Uint8Array[] = []
  try {
    for (const image of produced) {
      await options.journal.flush()
      if ('bytes' in image) bytes.push(image.bytes)
      else {
        options.onDownload?.()
        bytes.push(await download(provider, image.url, options.signal, options.onRetry))
      }
    }
  } catch (error) {
    return { bytes, error }
  }
  return { bytes }
}

/** Decodes, verifies and stores downloaded images in order, up to the first failure (a bad image, or the download's own). */
export async function acceptImages(downloaded: DownloadedImages, expected: Expected, store: ResultStore): Promise<StoredImages> {
  const images: ImageRecord[] = []
  const warnings: string[] = []
  try {
    for (const bytes of downloaded.bytes) {
      const accepted = await acceptResult(bytes, expected, store)
      warnings.push(...accepted.warnings)
      images.push(accepted.image)
    }
  } catch (error) {
    return { images, warnings, error }
  }
  return { images, warnings, ...(downloaded.error !== undefined ? { error: downloaded.error } : {}) }
}

function download(provider: ImageEditProvider, url: string, signal: AbortSignal, onRetry: SettleOptions['onRetry']): Promise<Uint8Array> {
  const fetchResult = provider.download?.bind(provider)
  if (!fetchResult) throw new ImagesEditError('INTERNAL', `provider ${provider.id} returned a URL but cannot download`, { userFacing: false })
  return withRetries(() => fetchResult(url, { signal, onProgress: () => {} }), FREE_RETRIES, { signal, onRetry })
}

/** One run of a take: the images it added and what the service said about them. */
export interface TakeRun {
  provider: string
  model: string
  firstIndex: number
  images: ImageRecord[]
  taskId?: string
  usage?: Record<string, unknown>
  /** What the images were estimated to cost (undefined: no known price, or free). */
  estimate?: { amount: number; currency: string }
  /** The job id, when a job of this run made them. */
  job?: string
  revisedPrompt?: string
  warnings: readonly string[]
}

/** Appends a run's images to a take and records the run. */
export function addRun(take: TakeRecord, run: TakeRun): void {
  take.images.push(...run.images)
  take.runs.push({
    at: new Date().toISOString(),
    provider: run.provider,
    model: run.model,
    firstIndex: run.firstIndex,
    count: run.images.length,
    ...(run.taskId ? { taskId: run.taskId } : {}),
    ...(run.usage ? { usage: run.usage } : {}),
    ...(run.estimate ? { estimate: run.estimate } : {}),
    ...(run.job ? { job: run.job } : {}),
    ...(run.revisedPrompt ? { revisedPrompt: run.revisedPrompt } : {}),
    warnings: [...run.warnings],
  })
}

/**
 * A paid result that could not be collected (download refused, undecodable bytes). The journal
 * entry stays while the result may still be fetched — until its URL's lifetime has surely passed
 * — so a rerun collects it instead of paying again.
 */
export async function paidResultLost(
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
