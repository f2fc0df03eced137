import type { Dispatcher, FormData } from 'undici'
import { ImagesEditError } from '../errors.js'
import type { ProviderId } from './provider.js'

/** What kind of call failed: free calls may be repeated, a paid one only when it surely was not accepted. */
export type Stage = 'upload' | 'submit' | 'poll' | 'download' | 'generate'

/** A provider call that failed, with what the runner needs to decide on a retry. */
export class ProviderError extends ImagesEditError {
  readonly provider: ProviderId
  readonly stage: Stage
  /** HTTP status, when there was a response. */
  readonly status?: number
  /** The provider's own error code (`content_policy_violation`, `moderation_blocked`, …). */
  readonly providerCode?: string
  /** The provider's request id, for support tickets. */
  readonly requestId?: string
  /** The same request may be sent again (for a free stage). */
  readonly retryable: boolean
  /** Certainly not accepted by the service: even a paid call may be sent again. */
  readonly notAccepted: boolean
  /** Wait at least this long before a retry (Retry-After / retry-after-ms). */
  readonly retryAfterMs?: number

  constructor(
    message: string,
    details: {
      provider: ProviderId
      stage: Stage
      status?: number
      providerCode?: string
      requestId?: string
      retryable?: boolean
      notAccepted?: boolean
      retryAfterMs?: number
      cause?: unknown
    },
  ) {
    super('PROVIDER', message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'ProviderError'
    this.provider = details.provider
    this.stage = details.stage
    if (details.status !== undefined) this.status = details.status
    if (details.providerCode !== undefined) this.providerCode = details.providerCode
    if (details.requestId !== undefined) this.requestId = details.requestId
    this.retryable = details.retryable ?? false
    this.notAccepted = details.notAccepted ?? false
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs
  }
}

/** Connection errors that happen before a request reaches the server: nothing was accepted. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH'])
/** Transport errors after which the same request may be sent again (free stages only). */
const TRANSIENT = new Set([
  ...NOT_SENT,
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
])

/** Options shared by every HTTP call of a provider. */
export interface HttpContext {
  provider: ProviderId
  /** undici dispatcher (an Agent with timeouts, a MockAgent in unit tests, a proxy). */
  dispatcher?: Dispatcher
  /** Values that must never appear in an error message (API keys). */
  secrets: readonly string[]
}

/** A successful JSON response. */
export interface JsonResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
  requestId?: string
}

/** Maps an HTTP error response of one provider to a {@link ProviderError}. */
export type ErrorMapper = (
  response: { status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined> },
  stage: Stage,
) => ProviderError

/**
 * One HTTP call that answers JSON. Transport failures, non-2xx answers, HTML gateway pages and
 * malformed JSON all become a {@link ProviderError} with the retry facts filled in; the key never
 * appears in any message.
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
    /** Give up waiting for response headers after this long. */
    timeoutMs: number
    /** Largest response accepted (b64 images make big bodies). */
    maxBytes: number
    mapError: ErrorMapper
  },
): Promise<JsonResponse> {
  // undici loads on the first HTTP call only: a cached or offline run never pays its start-up cost.
  const { request } = await import('undici')
  let response: Dispatcher.ResponseData
  try {
    response = await request(call.url, {
      method: call.method,
      headers: { accept: 'application/json', ...call.headers },
      ...(call.body !== undefined ? { body: call.body } : {}),
      signal: call.signal,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
      ...(context.dispatcher ? { dispatcher: context.dispatcher } : {}),
    })
  } catch (error) {
    throw transportError(context, call.stage, call.url, error, call.signal)
  }
  const requestId = header(response.headers, 'x-request-id') ?? header(response.headers, 'x-requestid')
  let text: string
  try {
    text = (await readCapped(response.body, call.maxBytes, call.signal, context, call.stage)).toString('utf8')
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
    const mapped = call.mapError({ status: response.statusCode, body: parsed ? body : undefined, text, headers: response.headers }, call.stage)
    throw redactError(context, mapped, requestId)
  }
  if (!parsed) {
    throw new ProviderError(`${context.provider} answered HTTP ${response.statusCode} with a body that is not JSON: ${snippet(text, context.secrets)}`, {
      provider: context.provider,
      stage: call.stage,
      status: response.statusCode,
      ...(requestId ? { requestId } : {}),
      // A garbled answer to a read can be read again; to a paid call we cannot know what happened.
      retryable: call.stage !== 'submit' && call.stage !== 'generate',
    })
  }
  return { status: response.statusCode, headers: response.headers, body, ...(requestId ? { requestId } : {}) }
}

/**
 * Downloads a result. Only `https` URLs, or `http` ones on the provider's own configured origin
 * (a local gateway, the test server); no redirects; at most `maxBytes`; a short or cut body is
 * an error, never a half image.
 */
export async function download(
  context: HttpContext,
  url: string,
  options: { signal: AbortSignal; maxBytes: number; timeoutMs: number; allowedHttpOrigin?: string },
): Promise<Buffer> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ProviderError(`${context.provider} returned a result URL that is not a URL: ${snippet(url, context.secrets)}`, {
      provider: context.provider,
      stage: 'download',
    })
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && parsed.origin === options.allowedHttpOrigin)) {
    throw new ProviderError(
      `${context.provider} returned a result URL that is not https: ${parsed.protocol}${parsed.protocol === 'http:' ? `//${parsed.host}` : ''}`,
      {
        provider: context.provider,
        stage: 'download',
      },
    )
  }
  const { request } = await import('undici')
  let response: Dispatcher.ResponseData
  try {
    response = await request(parsed, {
      method: 'GET',
      signal: options.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      ...(context.dispatcher ? { dispatcher: context.dispatcher } : {}),
    })
  } catch (error) {
    throw transportError(context, 'download', url, error, options.signal)
  }
  if (response.statusCode >= 300 && response.statusCode < 400) {
    await response.body.dump().catch(() => {})
    // A result that moved is not followed: a redirect may lead to another scheme or host.
    throw new ProviderError(`a ${context.provider} result URL redirected (HTTP ${response.statusCode}); images-edit does not follow redirects for downloads`, {
      provider: context.provider,
      stage: 'download',
      status: response.statusCode,
    })
  }
  if (response.statusCode !== 200) {
    await response.body.dump().catch(() => {})
    const expired = [401, 403, 404, 410].includes(response.statusCode)
    throw new ProviderError(
      expired
        ? `the result URL of ${context.provider} answered HTTP ${response.statusCode}: it has expired or is gone (results must be downloaded within their lifetime)`
        : `downloading a ${context.provider} result failed with HTTP ${response.statusCode}`,
      {
        provider: context.provider,
        stage: 'download',
        status: response.statusCode,
        retryable: !expired,
        ...retryAfter(response.headers),
      },
    )
  }
  const declared = Number(header(response.headers, 'content-length'))
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    response.body.destroy()
    throw new ProviderError(`a ${context.provider} result is ${declared} bytes, over the ${options.maxBytes}-byte cap`, {
      provider: context.provider,
      stage: 'download',
    })
  }
  let bytes: Buffer
  try {
    bytes = await readCapped(response.body, options.maxBytes, options.signal, context, 'download')
  } catch (error) {
    if (ImagesEditError.is(error)) throw error
    throw transportError(context, 'download', url, error, options.signal, true)
  }
  if (Number.isFinite(declared) && bytes.length !== declared) {
    throw new ProviderError(`a ${context.provider} download was cut short (${bytes.length} of ${declared} bytes)`, {
      provider: context.provider,
      stage: 'download',
      retryable: true,
    })
  }
  return bytes
}

/** Reads a body, refusing more than `maxBytes` (an unbounded answer must not fill memory). */
async function readCapped(
  body: AsyncIterable<Uint8Array> & { destroy(error?: Error): void },
  maxBytes: number,
  signal: AbortSignal,
  context: HttpContext,
  stage: Stage,
): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of body) {
    length += chunk.byteLength
    if (length > maxBytes) {
      body.destroy()
      throw new ProviderError(`${context.provider}: the answer to ${stage} exceeded the ${maxBytes}-byte cap and was abandoned`, {
        provider: context.provider,
        stage,
        // An oversized answer to a read can be read again; a paid call's answer cannot be.
        retryable: stage !== 'submit' && stage !== 'generate',
      })
    }
    chunks.push(chunk)
    if (signal.aborted) break
  }
  return Buffer.concat(chunks)
}

function transportError(context: HttpContext, stage: Stage, url: string, error: unknown, signal: AbortSignal, afterHeaders = false): ImagesEditError {
  if (signal.aborted) return new ImagesEditError('ABORTED', 'interrupted', { cause: signal.reason })
  const code = errorCode(error)
  const host = safeHost(url)
  const notSent = !afterHeaders && code !== undefined && NOT_SENT.has(code)
  return new ProviderError(`${context.provider}: ${describeTransport(code)} (${host}, ${stage})`, {
    provider: context.provider,
    stage,
    retryable: code === undefined || TRANSIENT.has(code),
    notAccepted: notSent,
  })
}

function describeTransport(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found'
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out'
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'connection reset'
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'no answer in time'
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'response cut short'
    default:
      return code ? `network error ${code}` : 'network error'
  }
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function safeHost(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return 'invalid URL'
  }
}

/** A header value as one string. */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name] ?? headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}

/** `retry-after-ms` (float ms) or `Retry-After` (seconds or an HTTP date), kept when within 0–60 s as openai-node does. */
export function retryAfter(headers: Record<string, string | string[] | undefined>): { retryAfterMs?: number } {
  const ms = Number.parseFloat(header(headers, 'retry-after-ms') ?? '')
  let value = Number.isFinite(ms) ? ms : Number.NaN
  if (!Number.isFinite(value)) {
    const raw = header(headers, 'retry-after')
    if (raw !== undefined) {
      const seconds = Number.parseFloat(raw)
      value = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - Date.now()
    }
  }
  return Number.isFinite(value) && value >= 0 && value <= 60_000 ? { retryAfterMs: value } : {}
}

/** The first part of a text body for an error message, without secrets, HTML tags or long lines. */
export function snippet(text: string, secrets: readonly string[]): string {
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1]
  const plain = (title ?? text.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim()
  return redact(plain.length > 200 ? `${plain.slice(0, 200)}…` : plain || '(empty body)', secrets)
}

/** Replaces every secret in a text. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text
  for (const secret of secrets) if (secret.length >= 4) result = result.split(secret).join('[redacted]')
  return result
}

function redactError(context: HttpContext, error: ProviderError, requestId: string | undefined): ProviderError {
  const message = redact(error.message, context.secrets)
  if (message === error.message && (error.requestId || !requestId)) return error
  return new ProviderError(message, {
    provider: error.provider,
    stage: error.stage,
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.providerCode !== undefined ? { providerCode: error.providerCode } : {}),
    ...((error.requestId ?? requestId) ? { requestId: error.requestId ?? requestId } : {}),
    retryable: error.retryable,
    notAccepted: error.notAccepted,
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
  })
}
