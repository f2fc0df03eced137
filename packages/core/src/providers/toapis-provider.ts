import { openAsBlob } from 'node:fs'
import type { Dispatcher } from 'undici'
import { withOneV1 } from './base-url.js'
import type { ProviderConfig } from './config.js'
import type { HostedProviderDefinition } from './definition.js'
import { callJson, download, type ErrorMapper, type HttpContext, header, ProviderError, type Stage, snippet } from './http.js'
import { retryFacts } from './paid-rule.js'
import type { EditContext, ImageEditProvider, InputImage, ProviderCapabilities, TaskStatus } from './provider.js'
import { gptImageSizes } from './sizes.js'

/** toapis refuses uploads over 10 MB (providers.md §1.5). */
export const TOAPIS_UPLOAD_LIMIT = 10 * 1024 * 1024

const MB = 1024 * 1024

/** What toapis accepts (providers.md §1). */
const capabilities: ProviderCapabilities = {
  maxRefs: 16,
  sizes: gptImageSizes,
  autoRatio: true,
  // The /official page says "up to 4 images per request"; the edits page says 10. We ask for at
  // most 4 per request and let the runner split larger n (providers.md §1.2).
  n: { min: 1, max: 4 },
  formats: ['png', 'jpeg'],
  qualities: ['low', 'medium', 'high'],
  // 50 MB by URL; local files go through the 10 MB upload endpoint and are re-encoded to fit.
  // toapis itself takes only PNG and JPEG references: `webp` stays accepted here because a local
  // WebP ref is re-encoded to PNG before upload (`uploadFile` below). A WebP *URL* ref is passed
  // through as given and toapis may refuse it.
  refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB, urls: true },
  mask: { supported: true, maxBytes: 10 * MB },
  transparentBackground: 'downgraded',
  parameters: ['compression', 'background'],
  paid: true,
}

/** toapis: a task service (upload, submit, poll, download). The default provider. */
export const toapisDefinition: HostedProviderDefinition<'toapis'> = {
  specificationVersion: 1,
  kind: 'hosted',
  id: 'toapis',
  defaultModel: 'gpt-image-1.5-official',
  capabilities: () => capabilities,
  defaults: { baseUrl: 'https://toapis.com/v1', apiKeyEnv: 'TOAPIS_API_KEY', pollIntervalMs: 5_000, taskTimeoutMs: 900_000 },
  // The base ends in exactly one `/v1`: some clients append it twice (providers.md §1.1).
  normalizeBaseUrl: withOneV1,
  create: (config, options) => createToapisProvider(config, options),
}

interface Prepared {
  imageUrls: string[]
  maskUrl?: string
}

/**
 * toapis (gpt-image-1.5-official): upload local inputs, submit a task, poll it, download the
 * results. Every method is one HTTP call (uploads: one per input not already uploaded).
 */
export function createToapisProvider(config: ProviderConfig, options: { dispatcher?: Dispatcher } = {}): ImageEditProvider {
  const http: HttpContext = {
    provider: 'toapis',
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    secrets: config.apiKey ? [config.apiKey] : [],
  }
  const auth = { authorization: `Bearer ${config.apiKey ?? ''}` }
  const timeout = (fallback: number) => config.timeoutMs ?? fallback

  async function upload(input: Extract<InputImage, { kind: 'file' }>, role: 'ref' | 'mask', context: EditContext): Promise<string> {
    const cached = await context.uploads?.get('toapis', input.sha256)
    if (cached) return cached
    context.onProgress({ stage: 'uploading' })
    const { FormData } = await import('undici')
    const form = new FormData()
    const file = await uploadFile(input, role)
    form.append('file', file.blob, file.name)
    form.append('purpose', 'generation')
    const response = await callJson(http, {
      stage: 'upload',
      method: 'POST',
      url: `${config.baseUrl}/uploads/images`,
      headers: auth,
      body: form,
      signal: context.signal,
      timeoutMs: timeout(120_000),
      maxBytes: 1024 * 1024,
      mapError: mapToapisError,
    })
    const body = response.body as { success?: boolean; message?: string; data?: { url?: unknown } } | undefined
    // Check `success` and `data.url`, not only the status (providers.md §1.5).
    if (body?.success !== true || typeof body.data?.url !== 'string') {
      throw new ProviderError(`toapis upload failed: ${body?.message ? snippet(String(body.message), http.secrets) : 'no URL in the answer'}`, {
        provider: 'toapis',
        stage: 'upload',
        status: response.status,
      })
    }
    await context.uploads?.put('toapis', input.sha256, body.data.url)
    return body.data.url
  }

  return {
    id: 'toapis',
    defaultModel: toapisDefinition.defaultModel,
    capabilities: (model) => toapisDefinition.capabilities(model),
    ...(config.baseUrl.startsWith('http:') ? { httpResultOrigin: new URL(config.baseUrl).origin } : {}),

    async prepare(request, context): Promise<Prepared> {
      const imageUrls: string[] = []
      for (const ref of request.refs) imageUrls.push(ref.kind === 'url' ? ref.url : await upload(ref, 'ref', context))
      const mask = request.mask
      const maskUrl = mask ? (mask.kind === 'url' ? mask.url : await upload(mask, 'mask', context)) : undefined
      return { imageUrls, ...(maskUrl ? { maskUrl } : {}) }
    },

    async submit(request, prepared, context) {
      const inputs = prepared as Prepared
      context.onProgress({ stage: 'submitting' })
      const body = {
        model: request.model,
        prompt: request.prompt,
        image_urls: inputs.imageUrls,
        ...(inputs.maskUrl ? { mask_url: inputs.maskUrl } : {}),
        size: request.ratio,
        resolution: request.resolution,
        quality: request.quality,
        n: request.n,
        output_format: request.format,
        ...(request.compression !== undefined && request.format === 'jpeg' ? { output_compression: request.compression } : {}),
        ...(request.background !== undefined ? { background: request.background } : {}),
      }
      const response = await callJson(http, {
        stage: 'submit',
        method: 'POST',
        url: `${config.baseUrl}/images/generations`,
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: context.signal,
        timeoutMs: timeout(60_000),
        maxBytes: 1024 * 1024,
        mapError: mapToapisError,
      })
      const answer = response.body as { id?: unknown; task_id?: unknown } | undefined
      // The docs' own sample reads `body.id || body.task_id` (providers.md §1.2).
      const taskId = typeof answer?.id === 'string' ? answer.id : typeof answer?.task_id === 'string' ? answer.task_id : undefined
      if (!taskId) {
        throw new ProviderError('toapis accepted the submit but returned no task id; the task may exist and be billed — check the toapis console', {
          provider: 'toapis',
          stage: 'submit',
          status: response.status,
        })
      }
      return { taskId }
    },

    async poll(taskId, context): Promise<TaskStatus> {
      const response = await callJson(http, {
        stage: 'poll',
        method: 'GET',
        url: `${config.baseUrl}/images/generations/${encodeURIComponent(taskId)}`,
        headers: auth,
        signal: context.signal,
        timeoutMs: timeout(30_000),
        maxBytes: 1024 * 1024,
        mapError: mapToapisError,
      })
      return normalizeTask(response.body)
    },

    download: (url, context) =>
      download(http, url, {
        signal: context.signal,
        maxBytes: 64 * 1024 * 1024,
        timeoutMs: timeout(120_000),
        ...(config.baseUrl.startsWith('http:') ? { allowedHttpOrigin: new URL(config.baseUrl).origin } : {}),
      }),
  }
}

/** What a toapis status means. */
type StatusClass = 'queued' | 'running' | 'completed' | 'failed'

/**
 * Every toapis status images-edit knows, in one table (providers.md §1.4 and its 2026-12 check):
 * the documented `queued`/`in_progress`/`completed`/`failed`, `submitted` and `pending`, and the
 * spellings third-party clients and gateways answer with. A failed status is final: the service
 * will not finish that task, and a resubmit is a new paid call the user decides on.
 */
export const TOAPIS_STATUSES: Readonly<Record<string, StatusClass>> = {
  queued: 'queued',
  pending: 'queued',
  submitted: 'queued',
  in_progress: 'running',
  processing: 'running',
  running: 'running',
  completed: 'completed',
  succeeded: 'completed',
  success: 'completed',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  cancelled: 'failed',
  canceled: 'failed',
  expired: 'failed',
  timeout: 'failed',
}

/**
 * Status normalisation from {@link TOAPIS_STATUSES}. A status outside the table is reported as
 * `running` with `unknownStatus` set, so the runner can end the task after a bounded time.
 */
export function normalizeTask(body: unknown): TaskStatus {
  const task = (body ?? {}) as Record<string, unknown>
  const raw = typeof task.status === 'string' ? task.status.trim() : ''
  const status = raw.toLowerCase().replace(/[\s-]+/g, '_')
  const percent = typeof task.progress === 'number' && Number.isFinite(task.progress) ? Math.max(0, Math.min(100, task.progress)) : undefined
  const progress = percent !== undefined ? { percent } : {}
  const kind = Object.hasOwn(TOAPIS_STATUSES, status) ? TOAPIS_STATUSES[status] : undefined
  switch (kind) {
    case 'completed': {
      const urls = resultUrls(task)
      if (urls.length === 0) return { state: 'failed', code: 'no_result', message: `the task reported ${raw} without any result URL`, final: false }
      return { state: 'completed', urls, ...(typeof task.revised_prompt === 'string' ? { revisedPrompt: task.revised_prompt } : {}) }
    }
    case 'failed':
      return failedTask(task, status)
    case 'queued':
      return { state: 'queued', ...progress }
    case 'running':
      return { state: 'running', ...progress }
    default:
      return { state: 'running', ...progress, unknownStatus: raw === '' ? '(no status)' : raw.slice(0, 80) }
  }
}

/** A task that ended without a result: its error code (or the status itself) and message. */
function failedTask(task: Record<string, unknown>, status: string): TaskStatus {
  const error = (task.error ?? {}) as { code?: unknown; message?: unknown }
  const code = error.code !== undefined && error.code !== null && error.code !== '' ? String(error.code) : status
  const message =
    typeof error.message === 'string'
      ? error.message
      : typeof task.fail_reason === 'string'
        ? task.fail_reason
        : status === 'failed'
          ? 'the task failed'
          : `the task ended with status ${status}`
  return { state: 'failed', code, message, final: true }
}

/**
 * Every result URL the answer carries, from each documented place in order — `result.data[].url`,
 * the top-level `url`, then the `data`, `output` and `images` lists third-party clients read —
 * without duplicates (providers.md §1.4). The runner takes at most as many as were asked for.
 */
export function resultUrls(task: Record<string, unknown>): string[] {
  const fromList = (list: unknown) =>
    Array.isArray(list)
      ? list.map((item) => (typeof item === 'string' ? item : (item as { url?: unknown })?.url)).filter((url): url is string => typeof url === 'string')
      : []
  const result = task.result as { data?: unknown } | undefined
  const all = [
    ...fromList(result?.data),
    ...(typeof task.url === 'string' ? [task.url] : []),
    ...fromList(task.data),
    ...fromList(task.output),
    ...fromList(task.images),
  ]
  return [...new Set(all.map((url) => url.trim()).filter((url) => url !== ''))]
}

/** toapis error bodies vary (providers.md §1.6): OpenAI-style, flat `{message}`, or HTML from the gateway. */
export const mapToapisError: ErrorMapper = ({ status, body, text, headers }, stage: Stage) => {
  const envelope = (body ?? {}) as { error?: { code?: unknown; type?: unknown; message?: unknown }; message?: unknown; code?: unknown }
  const code =
    String(
      envelope.error?.code ??
        envelope.error?.type ??
        envelope.code ??
        (typeof envelope.message === 'string' && /^[a-z_]+$/.test(envelope.message) ? envelope.message : ''),
    ) || undefined
  const detail =
    typeof envelope.error?.message === 'string' ? envelope.error.message : typeof envelope.message === 'string' ? envelope.message : snippet(text, [])
  const requestId = header(headers, 'x-request-id')
  const base = { provider: 'toapis' as const, stage, status, ...(code ? { providerCode: code } : {}), ...(requestId ? { requestId } : {}) }
  const retry = retryFacts({ provider: 'toapis', stage, status, code, json: body !== undefined, headers })
  if (status === 401 || status === 403) {
    return new ProviderError(`toapis rejected the API key (HTTP ${status}: ${detail}). Check TOAPIS_API_KEY (or the variable named by apiKeyEnv).`, base)
  }
  if (status === 402 || code === 'insufficient_quota')
    return new ProviderError(`toapis: insufficient balance (HTTP ${status}: ${detail}). Top up your toapis account.`, base)
  if (status === 422 || code === 'content_policy_violation')
    return new ProviderError(`toapis refused the request on content policy: ${detail}. Change the prompt or references; it is not retried.`, base)
  if (code === 'task_not_exist' || code === 'task_not_found' || (status === 404 && stage === 'poll')) {
    return new ProviderError('toapis does not know this task (expired or never created); the job will be submitted again on the next run', base)
  }
  if (status === 429) return new ProviderError(`toapis rate limit (HTTP 429${detail ? `: ${detail}` : ''})`, { ...base, ...retry })
  if (status === 503) return new ProviderError(`toapis is unavailable (HTTP 503: ${detail})`, { ...base, ...retry })
  if (status >= 500 || status === 408) return new ProviderError(`toapis server error (HTTP ${status}: ${detail})`, { ...base, ...retry })
  return new ProviderError(`toapis rejected the request (HTTP ${status}: ${detail})`, base)
}

/** Formats toapis takes as references (providers.md, "Checked again from outside"). */
const TOAPIS_REF_FORMATS: readonly string[] = ['png', 'jpeg']

/**
 * The bytes uploaded for one input. toapis takes PNG or JPEG references of at most 10 MB: a WebP
 * (or any other format) ref is re-encoded to PNG — lossless, alpha kept — and a ref over the
 * limit to JPEG. The mask is sent as it is (PNG with alpha; validation keeps it under the limit).
 */
async function uploadFile(input: Extract<InputImage, { kind: 'file' }>, role: 'ref' | 'mask'): Promise<{ blob: Blob; name: string }> {
  const fits = input.bytes <= TOAPIS_UPLOAD_LIMIT
  if (role === 'mask' || (fits && TOAPIS_REF_FORMATS.includes(input.format))) {
    return { blob: await openAsBlob(input.path, { type: `image/${input.format}` }), name: `${role}.${input.format === 'jpeg' ? 'jpg' : input.format}` }
  }
  if (!TOAPIS_REF_FORMATS.includes(input.format)) {
    const png = await toPng(input.path)
    if (png.length <= TOAPIS_UPLOAD_LIMIT) return { blob: new Blob([new Uint8Array(png)], { type: 'image/png' }), name: 'ref.png' }
  }
  // References may be 50 MB by URL but uploads stop at 10 MB: re-encode to JPEG to fit.
  const jpeg = await shrinkToJpeg(input.path, TOAPIS_UPLOAD_LIMIT)
  return { blob: new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' }), name: 'ref.jpg' }
}

/** A lossless PNG of an image: the same pixel grid (a mask still matches it), metadata kept. */
async function toPng(path: string): Promise<Buffer> {
  const { default: sharp } = await import('sharp')
  return sharp(path).keepMetadata().png().toBuffer()
}

async function shrinkToJpeg(path: string, limit: number): Promise<Buffer> {
  const { default: sharp } = await import('sharp')
  for (const quality of [90, 80, 70, 60, 50]) {
    // No Huffman optimisation: it holds every coefficient for a second pass (~110 MiB on a 17 MP photo).
    const bytes = await sharp(path).rotate().flatten({ background: '#ffffff' }).jpeg({ quality, optimiseCoding: false }).toBuffer()
    if (bytes.length <= limit) return bytes
  }
  // Still too big: scale down until it fits.
  const meta = await sharp(path).metadata()
  let width = Math.round((meta.width ?? 4096) * 0.75)
  for (;;) {
    const bytes = await sharp(path).rotate().flatten({ background: '#ffffff' }).resize({ width }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer()
    if (bytes.length <= limit || width < 256) return bytes
    width = Math.round(width * 0.75)
  }
}
