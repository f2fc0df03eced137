import { openAsBlob } from 'node:fs'
import type { Dispatcher } from 'undici'
import { capabilitiesOf, defaultModels } from './capabilities.js'
import type { ProviderConfig } from './config.js'
import { callJson, download, type ErrorMapper, type HttpContext, header, ProviderError, retryAfter, type Stage, snippet } from './http.js'
import type { EditContext, ImageEditProvider, InputImage, TaskStatus } from './provider.js'

/** toapis refuses uploads over 10 MB (providers.md §1.5). */
export const TOAPIS_UPLOAD_LIMIT = 10 * 1024 * 1024

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
    if (input.bytes > TOAPIS_UPLOAD_LIMIT && role === 'ref') {
      // References may be 50 MB by URL but uploads stop at 10 MB: re-encode to JPEG to fit. The
      // mask stays PNG (its alpha is the point); validation keeps it under the limit.
      const bytes = await shrinkToJpeg(input.path, TOAPIS_UPLOAD_LIMIT)
      form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), 'ref.jpg')
    } else {
      form.append('file', await openAsBlob(input.path, { type: `image/${input.format}` }), `${role}.${input.format === 'jpeg' ? 'jpg' : input.format}`)
    }
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
    defaultModel: defaultModels.toapis,
    capabilities: (model) => capabilitiesOf('toapis', model),
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

/** Status normalisation (providers.md §1.4, §5): only `completed` and `failed` are terminal. */
export function normalizeTask(body: unknown): TaskStatus {
  const task = (body ?? {}) as Record<string, unknown>
  const status = typeof task.status === 'string' ? task.status.toLowerCase() : ''
  const percent = typeof task.progress === 'number' ? Math.max(0, Math.min(100, task.progress)) : undefined
  if (status === 'completed') {
    const urls = resultUrls(task)
    if (urls.length === 0) return { state: 'failed', code: 'no_result', message: 'the task completed without any result URL', final: false }
    return { state: 'completed', urls, ...(typeof task.revised_prompt === 'string' ? { revisedPrompt: task.revised_prompt } : {}) }
  }
  if (status === 'failed') {
    const error = (task.error ?? {}) as { code?: unknown; message?: unknown }
    const code = String(error.code ?? 'failed')
    const message = typeof error.message === 'string' ? error.message : typeof task.fail_reason === 'string' ? task.fail_reason : 'the task failed'
    return { state: 'failed', code, message, final: true }
  }
  if (status === 'pending' || status === 'submitted' || status === 'queued') return { state: 'queued', ...(percent !== undefined ? { percent } : {}) }
  // `in_progress` and any value we do not know are "still running".
  return { state: 'running', ...(percent !== undefined ? { percent } : {}) }
}

/** `result.data[].url` first, then the documented fallbacks (providers.md §1.4). */
function resultUrls(task: Record<string, unknown>): string[] {
  const fromList = (list: unknown) =>
    Array.isArray(list)
      ? list.map((item) => (typeof item === 'string' ? item : (item as { url?: unknown })?.url)).filter((url): url is string => typeof url === 'string')
      : []
  const result = task.result as { data?: unknown } | undefined
  for (const candidate of [
    fromList(result?.data),
    typeof task.url === 'string' ? [task.url] : [],
    fromList(task.data),
    fromList(task.output),
    fromList(task.images),
  ]) {
    if (candidate.length > 0) return candidate
  }
  return []
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
  if (status === 429)
    return new ProviderError(`toapis rate limit (HTTP 429${detail ? `: ${detail}` : ''})`, {
      ...base,
      retryable: true,
      notAccepted: true,
      ...retryAfter(headers),
    })
  if (status === 503) {
    // 503 means the request was not processed (limiter unavailable, no channel): safe to send again.
    return new ProviderError(`toapis is unavailable (HTTP 503: ${detail})`, { ...base, retryable: true, notAccepted: true, ...retryAfter(headers) })
  }
  if (status >= 500 || status === 408)
    return new ProviderError(`toapis server error (HTTP ${status}: ${detail})`, { ...base, retryable: true, ...retryAfter(headers) })
  return new ProviderError(`toapis rejected the request (HTTP ${status}: ${detail})`, base)
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
