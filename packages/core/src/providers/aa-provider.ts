import type { Dispatcher } from 'undici'
import type { ProviderConfig } from './config.js'
import type { HostedProviderDefinition } from './definition.js'
import { callJson, download, type ErrorMapper, type HttpContext, header, ProviderError, redact, type Stage, snippet } from './http.js'
import { sizeParameter, toImageUrl } from './image-refs.js'
import { retryFacts } from './paid-rule.js'
import type { ImageEditProvider, ProviderCapabilities } from './provider.js'
import { gptImageApiSizes } from './sizes.js'

const MB = 1024 * 1024

/** What aa accepts (providers.md §2). */
const capabilities: ProviderCapabilities = {
  maxRefs: 16,
  sizes: gptImageApiSizes,
  autoRatio: true,
  n: { min: 1, max: 10 },
  formats: ['png', 'jpeg', 'webp'],
  qualities: ['low', 'medium', 'high', 'auto'],
  // Local files travel as data URLs (≤ 20 MiB of text, so ≤ 15 MiB of bytes after base64).
  refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 15 * MB, urls: true },
  mask: { supported: true, maxBytes: 15 * MB },
  transparentBackground: 'supported',
  parameters: ['compression', 'background', 'inputFidelity', 'moderation'],
  paid: true,
}

/** 典名词元 (aa): one synchronous call per edit. */
export const aaDefinition: HostedProviderDefinition<'aa'> = {
  specificationVersion: 1,
  kind: 'hosted',
  id: 'aa',
  defaultModel: 'gpt-image-1.5',
  capabilities: () => capabilities,
  defaults: { baseUrl: 'https://api.aa.com.cn', apiKeyEnv: 'AA_API_KEY', pollIntervalMs: 5_000, taskTimeoutMs: 900_000 },
  // aa's base is the host; its paths carry `/api/v1`.
  normalizeBaseUrl: (base) => base.replace(/\/api\/v1$/, ''),
  create: (config, options) => createAaProvider(config, options),
}

/**
 * 典名词元 (api.aa.com.cn), gpt-image-1.5: one synchronous JSON call returns result URLs
 * (providers.md §2). Local files travel as data URLs; https URLs pass through.
 */
export function createAaProvider(config: ProviderConfig, options: { dispatcher?: Dispatcher } = {}): ImageEditProvider {
  const http: HttpContext = { provider: 'aa', ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}), secrets: config.apiKey ? [config.apiKey] : [] }
  const httpOrigin = config.baseUrl.startsWith('http:') ? new URL(config.baseUrl).origin : undefined
  return {
    id: 'aa',
    defaultModel: aaDefinition.defaultModel,
    capabilities: (model) => aaDefinition.capabilities(model),
    ...(httpOrigin ? { httpResultOrigin: httpOrigin } : {}),

    async generate(request, _prepared, context) {
      const images = await Promise.all(request.refs.map(async (ref) => ({ image_url: await toImageUrl(ref) })))
      const body = {
        model: request.model,
        prompt: request.prompt,
        images,
        ...(request.mask ? { mask: { image_url: await toImageUrl(request.mask) } } : {}),
        size: sizeParameter(request),
        n: request.n,
        quality: request.quality,
        output_format: request.format,
        ...(request.compression !== undefined && request.format !== 'png' ? { output_compression: request.compression } : {}),
        ...(request.background !== undefined ? { background: request.background } : {}),
        ...(request.inputFidelity !== undefined ? { input_fidelity: request.inputFidelity } : {}),
        ...(request.moderation !== undefined ? { moderation: request.moderation } : {}),
      }
      context.onProgress({ stage: 'running' })
      const response = await callJson(http, {
        stage: 'generate',
        method: 'POST',
        url: `${config.baseUrl}/api/v1/image/generation`,
        headers: { authorization: `Bearer ${config.apiKey ?? ''}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: context.signal,
        // Synchronous: the answer comes when the images are made, often minutes later.
        timeoutMs: config.timeoutMs ?? 600_000,
        maxBytes: 1024 * 1024,
        mapError: mapAaError,
      })
      const answer = (response.body ?? {}) as AaAnswer
      const urls = Array.isArray(answer.data?.urls) ? answer.data.urls.filter((url): url is string => typeof url === 'string') : []
      // Success is HTTP 2xx AND code 0 AND a non-empty data.urls (providers.md §2); `"0"` is seen too.
      if (!isCodeZero(answer.code)) {
        throw new ProviderError(
          `aa answered code ${String(answer.code)}: ${typeof answer.message === 'string' ? snippet(answer.message, http.secrets) : 'no result URLs'}`,
          {
            provider: 'aa',
            stage: 'generate',
            status: response.status,
            providerCode: String(answer.code),
          },
        )
      }
      if (urls.length === 0) throw acceptedWithoutImages(answer, response.status, http.secrets)
      return {
        images: urls.map((url) => ({ url })),
        ...(typeof answer.data?.task_id === 'string' ? { taskId: answer.data.task_id } : {}),
        ...(answer.data?.usage && typeof answer.data.usage === 'object' ? { usage: answer.data.usage as Record<string, unknown> } : {}),
        warnings: [],
      }
    },

    download: (url, context) =>
      download(http, url, {
        signal: context.signal,
        maxBytes: 64 * 1024 * 1024,
        timeoutMs: config.timeoutMs ?? 120_000,
        ...(httpOrigin ? { allowedHttpOrigin: httpOrigin } : {}),
      }),
  }
}

/** The documented answer of `POST /api/v1/image/generation` (providers.md §2). */
interface AaAnswer {
  code?: unknown
  message?: unknown
  data?: { urls?: unknown; usage?: unknown; task_id?: unknown; task_status?: unknown }
}

/** `code: 0` or `code: "0"`: the call was accepted. */
function isCodeZero(code: unknown): boolean {
  return code === 0 || (typeof code === 'string' && code.trim() === '0')
}

/**
 * aa accepted the call (code 0) and answered before its task had images: it is billed, and aa
 * documents no way to ask about a task later, so it cannot be collected. The task id goes to the
 * runner (`billedTaskId`), which journals it and reports the job as billed and not collected.
 */
function acceptedWithoutImages(answer: AaAnswer, status: number, secrets: readonly string[]): ProviderError {
  const rawId = answer.data?.task_id
  const taskId = typeof rawId === 'string' && rawId.trim() !== '' ? rawId.trim() : typeof rawId === 'number' ? String(rawId) : undefined
  const state = typeof answer.data?.task_status === 'string' && answer.data.task_status !== '' ? answer.data.task_status : 'not given'
  const message = taskId
    ? `aa accepted and billed the request as task ${redact(taskId, secrets)} (status ${snippet(state, secrets)}) but returned no image yet; ` +
      'aa documents no way to query a task, so images-edit cannot collect it — check the aa console for task ' +
      `${redact(taskId, secrets)} before building this job again`
    : `aa answered code 0 (status ${snippet(state, secrets)}) with no image and no task id: the request may have been billed; ` +
      'check the aa console before building this job again'
  return new ProviderError(message, {
    provider: 'aa',
    stage: 'generate',
    status,
    providerCode: 'accepted_without_images',
    ...(taskId ? { billedTaskId: taskId } : {}),
  })
}

/** aa's envelope is `{code, message, request_id, data}`; HTTP statuses are not documented (providers.md §2). */
export const mapAaError: ErrorMapper = ({ status, body, text, headers }, stage: Stage) => {
  const envelope = (body ?? {}) as { code?: unknown; message?: unknown; request_id?: unknown; error?: { message?: unknown; code?: unknown } }
  const detail =
    typeof envelope.message === 'string' ? envelope.message : typeof envelope.error?.message === 'string' ? envelope.error.message : snippet(text, [])
  const code = envelope.code ?? envelope.error?.code
  const requestId = typeof envelope.request_id === 'string' ? envelope.request_id : header(headers, 'x-request-id')
  const base = { provider: 'aa' as const, stage, status, ...(code !== undefined ? { providerCode: String(code) } : {}), ...(requestId ? { requestId } : {}) }
  if (status === 401 || status === 403)
    return new ProviderError(`aa rejected the API key (HTTP ${status}: ${detail}). Check AA_API_KEY (or the variable named by apiKeyEnv).`, base)
  const retry = retryFacts({ provider: 'aa', stage, status, code: code === undefined ? undefined : String(code), json: body !== undefined, headers })
  if (status === 429) return new ProviderError(`aa rate limit (HTTP 429: ${detail})`, { ...base, ...retry })
  if (status === 503) return new ProviderError(`aa is unavailable (HTTP 503: ${detail})`, { ...base, ...retry })
  if (status >= 500) return new ProviderError(`aa server error (HTTP ${status}: ${detail})`, { ...base, ...retry })
  return new ProviderError(`aa rejected the request (HTTP ${status}: ${detail})`, base)
}
