import { openAsBlob } from 'node:fs'
import type { Dispatcher, FormData } from 'undici'
import { withOneV1 } from './base-url.js'
import type { ProviderConfig } from './config.js'
import type { HostedProviderDefinition } from './definition.js'
import { callJson, type ErrorMapper, type HttpContext, header, ProviderError, type Stage, snippet } from './http.js'
import { sizeParameter, toImageUrl } from './image-refs.js'
import { isFinalRefusal, retryFacts } from './paid-rule.js'
import type { EditRequest, ImageEditProvider, ProviderCapabilities } from './provider.js'
import { gptImageApiSizes } from './sizes.js'

const MB = 1024 * 1024

/** What OpenAI image edits accept (providers.md §3). */
const capabilities: ProviderCapabilities = {
  maxRefs: 16,
  sizes: gptImageApiSizes,
  autoRatio: true,
  n: { min: 1, max: 10 },
  formats: ['png', 'jpeg', 'webp'],
  qualities: ['low', 'medium', 'high', 'auto'],
  refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB - 1, urls: true },
  mask: { supported: true, maxBytes: 4 * MB - 1 },
  transparentBackground: 'supported',
  // Multipart edits have no `moderation` field (providers.md §3.2).
  parameters: ['compression', 'background', 'inputFidelity'],
  paid: true,
}

/** OpenAI image edits: one synchronous call per edit. */
export const openaiDefinition: HostedProviderDefinition<'openai'> = {
  specificationVersion: 1,
  kind: 'hosted',
  id: 'openai',
  defaultModel: 'gpt-image-1.5',
  capabilities: () => capabilities,
  defaults: { baseUrl: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', pollIntervalMs: 5_000, taskTimeoutMs: 900_000 },
  normalizeBaseUrl: withOneV1,
  create: (config, options) => createOpenAiProvider(config, options),
}

/** Largest JSON answer accepted: 10 base64 PNGs at 1536x1024 are ~40 MB; anything far beyond is not an answer. */
const MAX_ANSWER_BYTES = 128 * 1024 * 1024

/**
 * OpenAI image edits: `POST /v1/images/edits`. Local files go as multipart `image[]` and `mask`
 * parts streamed from disk (file-backed Blobs: refs are never all held in memory); when a ref is
 * a URL the JSON body with `images: [{image_url}]` is used instead. Results arrive as `b64_json`.
 */
export function createOpenAiProvider(config: ProviderConfig, options: { dispatcher?: Dispatcher } = {}): ImageEditProvider {
  const http: HttpContext = {
    provider: 'openai',
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    secrets: config.apiKey ? [config.apiKey] : [],
  }
  return {
    id: 'openai',
    defaultModel: openaiDefinition.defaultModel,
    capabilities: (model) => openaiDefinition.capabilities(model),

    async generate(request, _prepared, context) {
      const useJson = request.refs.some((ref) => ref.kind === 'url') || request.mask?.kind === 'url'
      context.onProgress({ stage: 'running' })
      const response = await callJson(http, {
        stage: 'generate',
        method: 'POST',
        url: `${config.baseUrl}/images/edits`,
        headers: { authorization: `Bearer ${config.apiKey ?? ''}`, ...(useJson ? { 'content-type': 'application/json' } : {}) },
        body: useJson ? JSON.stringify(await jsonBody(request)) : await multipartBody(request),
        signal: context.signal,
        timeoutMs: config.timeoutMs ?? 600_000,
        maxBytes: MAX_ANSWER_BYTES,
        mapError: mapOpenAiError,
      })
      const answer = (response.body ?? {}) as { data?: { b64_json?: unknown; revised_prompt?: unknown }[]; usage?: unknown }
      const images = (answer.data ?? []).map((item) => item.b64_json).filter((value): value is string => typeof value === 'string')
      if (images.length === 0)
        throw new ProviderError('openai answered without any b64_json image', { provider: 'openai', stage: 'generate', status: response.status })
      const revised = answer.data?.find((item) => typeof item.revised_prompt === 'string')?.revised_prompt as string | undefined
      return {
        images: images.map((b64) => ({ bytes: Buffer.from(b64, 'base64') })),
        ...(answer.usage && typeof answer.usage === 'object' ? { usage: answer.usage as Record<string, unknown> } : {}),
        ...(revised ? { revisedPrompt: revised } : {}),
        ...(response.requestId ? { taskId: response.requestId } : {}),
        warnings: useJson || request.moderation === undefined ? [] : ['multipart edits have no `moderation` field; it was not sent'],
      }
    },
  }
}

function common(request: EditRequest): Record<string, string> {
  return {
    model: request.model,
    prompt: request.prompt,
    n: String(request.n),
    size: sizeParameter(request),
    quality: request.quality,
    output_format: request.format,
    ...(request.compression !== undefined && request.format !== 'png' ? { output_compression: String(request.compression) } : {}),
    ...(request.background !== undefined ? { background: request.background } : {}),
    ...(request.inputFidelity !== undefined ? { input_fidelity: request.inputFidelity } : {}),
  }
}

async function multipartBody(request: EditRequest): Promise<FormData> {
  const { FormData } = await import('undici')
  const form = new FormData()
  for (const [name, value] of Object.entries(common(request))) form.append(name, value)
  for (const [index, ref] of request.refs.entries()) {
    if (ref.kind !== 'file') continue
    form.append('image[]', await openAsBlob(ref.path, { type: `image/${ref.format}` }), `image-${index + 1}.${ref.format === 'jpeg' ? 'jpg' : ref.format}`)
  }
  if (request.mask?.kind === 'file') form.append('mask', await openAsBlob(request.mask.path, { type: 'image/png' }), 'mask.png')
  return form
}

async function jsonBody(request: EditRequest): Promise<Record<string, unknown>> {
  const fields: Record<string, unknown> = { ...common(request), n: request.n }
  if (request.compression !== undefined && request.format !== 'png') fields.output_compression = request.compression
  return {
    ...fields,
    images: await Promise.all(request.refs.map(async (ref) => ({ image_url: await toImageUrl(ref) }))),
    ...(request.mask ? { mask: { image_url: await toImageUrl(request.mask) } } : {}),
    ...(request.moderation !== undefined ? { moderation: request.moderation } : {}),
  }
}

/** `{"error":{"message","type","param","code"}}` (providers.md §3.7). */
export const mapOpenAiError: ErrorMapper = ({ status, body, text, headers }, stage: Stage) => {
  const error = ((body ?? {}) as { error?: { message?: unknown; code?: unknown; type?: unknown } }).error ?? {}
  const code = typeof error.code === 'string' ? error.code : typeof error.type === 'string' ? error.type : undefined
  const detail = typeof error.message === 'string' ? error.message : snippet(text, [])
  const requestId = header(headers, 'x-request-id')
  const base = { provider: 'openai' as const, stage, status, ...(code ? { providerCode: code } : {}), ...(requestId ? { requestId } : {}) }
  if (code === 'moderation_blocked')
    return new ProviderError(`openai refused the request on safety grounds: ${detail}. Change the prompt or references; it is not retried.`, base)
  if (status === 401 || status === 403)
    return new ProviderError(`openai rejected the API key (HTTP ${status}: ${detail}). Check OPENAI_API_KEY (or the variable named by apiKeyEnv).`, base)
  const retry = retryFacts({ provider: 'openai', stage, status, code, json: body !== undefined, headers })
  // insufficient_quota needs the user to act: a final refusal, not a rate limit to wait out.
  if (isFinalRefusal(code)) return new ProviderError(`openai: ${detail}`, base)
  if (status === 429) return new ProviderError(`openai rate limit (HTTP 429: ${detail})`, { ...base, ...retry })
  if (status === 503) return new ProviderError(`openai is unavailable (HTTP 503: ${detail})`, { ...base, ...retry })
  if (status >= 500 || status === 408 || status === 409) return new ProviderError(`openai server error (HTTP ${status}: ${detail})`, { ...base, ...retry })
  return new ProviderError(`openai rejected the request (HTTP ${status}: ${detail})`, base)
}
