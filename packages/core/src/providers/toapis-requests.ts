// The toapis calls of one provider instance: prepare (uploads), submit, poll and download.
import type { Dispatcher } from 'undici'
import type { ProviderConfig } from './config.js'
import { callJson, download, type HttpContext, ProviderError } from './http.js'
import type { EditContext, EditRequest, InputImage, TaskStatus } from './provider.js'
import { mapToapisError } from './toapis-errors.js'
import { normalizeTask } from './toapis-tasks.js'
import { uploadInput } from './toapis-uploads.js'

/** What `prepare` hands to `submit`: every input as a URL toapis can read. */
export interface Prepared {
  imageUrls: string[]
  maskUrl?: string
}

/** What every call of one toapis provider shares: its config, HTTP context and auth header. */
export interface ToapisClient {
  config: ProviderConfig
  http: HttpContext
  auth: { authorization: string }
  /** The configured timeout, else the call's own default. */
  timeout: (fallback: number) => number
}

/** The shared state of the calls of a toapis provider made from `config`. */
export function toapisClient(config: ProviderConfig, options: { dispatcher?: Dispatcher }): ToapisClient {
  const http: HttpContext = {
    provider: 'toapis',
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    secrets: config.apiKey ? [config.apiKey] : [],
  }
  const auth = { authorization: `Bearer ${config.apiKey ?? ''}` }
  const timeout = (fallback: number) => config.timeoutMs ?? fallback
  return { config, http, auth, timeout }
}

/** Free preparation: local refs and mask uploaded (URL inputs pass through as given). */
export async function prepareInputs(client: ToapisClient, request: EditRequest, context: EditContext): Promise<Prepared> {
  const upload = (input: Extract<InputImage, { kind: 'file' }>, role: 'ref' | 'mask') => uploadInput(client, input, role, context)
  const imageUrls: string[] = []
  for (const ref of request.refs) imageUrls.push(ref.kind === 'url' ? ref.url : await upload(ref, 'ref'))
  const mask = request.mask
  const maskUrl = mask ? (mask.kind === 'url' ? mask.url : await upload(mask, 'mask')) : undefined
  return { imageUrls, ...(maskUrl ? { maskUrl } : {}) }
}

/** The JSON body of a submit (providers.md §1.2). */
function submitBody(request: EditRequest, inputs: Prepared): Record<string, unknown> {
  return {
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
}

/** The paid call: submits the task and answers its id. */
export async function submitTask(client: ToapisClient, request: EditRequest, inputs: Prepared, context: EditContext): Promise<{ taskId: string }> {
  const { config, http, auth, timeout } = client
  context.onProgress({ stage: 'submitting' })
  const body = submitBody(request, inputs)
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
}

/** One look at a task: its status, normalised. */
export async function pollTask(client: ToapisClient, taskId: string, context: EditContext): Promise<TaskStatus> {
  const { config, http, auth, timeout } = client
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
}

/** Downloads one result URL (`http` only on the configured base's own origin). */
export function downloadResult(client: ToapisClient, url: string, context: EditContext): Promise<Uint8Array> {
  const { config, http, timeout } = client
  return download(http, url, {
    signal: context.signal,
    maxBytes: 64 * 1024 * 1024,
    timeoutMs: timeout(120_000),
    ...(config.baseUrl.startsWith('http:') ? { allowedHttpOrigin: new URL(config.baseUrl).origin } : {}),
  })
}
