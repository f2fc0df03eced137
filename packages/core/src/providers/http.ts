// JSON calls to a provider, and the entry point of the HTTP layer (errors, downloads and headers live beside it).
import type { Dispatcher, FormData } from 'undici'
import { ImagesEditError } from '../errors.js'
import { redact, redactDeep } from '../secrets/redact.js'
import { readBody } from './http-body.js'
import { dispatcherOf, type HttpContext } from './http-context.js'
import { type ErrorMapper, fail, isPaid, redactError, type Stage, snippet, transportError } from './http-errors.js'
import { declaredLength, header } from './http-headers.js'

export { redact, redactDeep } from '../secrets/redact.js'
export { MIN_BYTES_PER_SECOND } from './http-body.js'
export type { HttpContext } from './http-context.js'
export { download, MAX_DOWNLOAD_REDIRECTS } from './http-download.js'
export { type ErrorMapper, ProviderError, type Stage, snippet } from './http-errors.js'
export { header, MAX_RETRY_AFTER_MS, retryAfter } from './http-headers.js'

/** A successful JSON response. */
export interface JsonResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
  requestId?: string
}

/**
 * One HTTP call that answers JSON. Transport failures, non-2xx answers, HTML gateway pages and
 * malformed JSON all become a {@link ProviderError} with the retry facts filled in; the key never
 * appears in any message. The body must arrive at {@link MIN_BYTES_PER_SECOND} after a grace of
 * `timeoutMs`.
 */
export async function callJson(
  context: HttpContext,
  call: {
    stage: Stage
    method: 'GET' | 'POST'
    url: string
    headers: Record<string, string>
    body?: string | FormData
    signal: AbortSignal
    /** Give up waiting for response headers (or for the next bytes) after this long; the body's grace period. */
    timeoutMs: number
    /** Largest response accepted (b64 images make big bodies). */
    maxBytes: number
    mapError: ErrorMapper
  },
): Promise<JsonResponse> {
  // undici loads on the first HTTP call only: a cached or offline run never pays its start-up cost.
  const { request } = await import('undici')
  const dispatcher = await dispatcherOf(context)
  let response: Dispatcher.ResponseData
  try {
    response = await request(call.url, {
      method: call.method,
      headers: { accept: 'application/json', ...call.headers },
      ...(call.body !== undefined ? { body: call.body } : {}),
      signal: call.signal,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
      dispatcher,
    })
  } catch (error) {
    throw transportError(context, call.stage, call.url, error, call.signal)
  }
  const rawRequestId = header(response.headers, 'x-request-id') ?? header(response.headers, 'x-requestid')
  const requestId = rawRequestId === undefined ? undefined : redact(rawRequestId, context.secrets)
  let text: string
  try {
    const limits = { maxBytes: call.maxBytes, graceMs: call.timeoutMs, declared: declaredLength(response.headers) }
    text = (await readBody(response.body, limits, call.signal, context, call.stage, call.url)).toString('utf8')
  } catch (error) {
    if (ImagesEditError.is(error)) throw error
    throw transportError(context, call.stage, call.url, error, call.signal, true)
  }
  let body: unknown
  let parsed = true
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    parsed = false
  }
  if (response.statusCode >= 400) {
    // Redact before the mapper sees the answer: whatever it quotes or cuts holds no key.
    const answer = { status: response.statusCode, body: parsed ? redactDeep(body, context.secrets) : undefined, text: redact(text, context.secrets) }
    throw redactError(context, call.mapError({ ...answer, headers: response.headers }, call.stage), requestId)
  }
  if (!parsed) {
    throw fail(context, `${context.provider} answered HTTP ${response.statusCode} with a body that is not JSON: ${snippet(text, context.secrets)}`, {
      stage: call.stage,
      status: response.statusCode,
      ...(requestId ? { requestId } : {}),
      // A garbled answer to a read can be read again; to a paid call we cannot know what happened.
      retryable: !isPaid(call.stage),
    })
  }
  return { status: response.statusCode, headers: response.headers, body, ...(requestId ? { requestId } : {}) }
}
