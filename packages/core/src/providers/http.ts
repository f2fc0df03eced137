import type { Dispatcher, FormData } from 'undici'
import { ImagesEditError } from '../errors.js'
import { redact, redactDeep } from '../secrets/redact.js'
import type { ProviderId } from './provider.js'

export { redact, redactDeep } from '../secrets/redact.js'

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
  /**
   * The service accepted (and billed) the call and named it with this task id, but handed back no
   * images yet (aa answering before its task finished). The runner journals it and reports the
   * job as billed and not collected, never as a plain failure.
   */
  readonly billedTaskId?: string

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
      billedTaskId?: string
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
    if (details.billedTaskId !== undefined) this.billedTaskId = details.billedTaskId
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

/**
 * Maps an HTTP error response of one provider to a {@link ProviderError}. `text` and `body` have
 * already gone through {@link redact}: the mapper may quote or cut them freely.
 */
export type ErrorMapper = (
  response: { status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined> },
  stage: Stage,
) => ProviderError

/**
 * Slowest average rate, in bytes per second, at which a response body may arrive once its grace
 * period (the call's `timeoutMs`) is over. A body of `n` bytes therefore ends within
 * `timeoutMs + n / MIN_BYTES_PER_SECOND` seconds at the latest (`n`: the declared Content-Length,
 * or the call's size cap), and a server that drips bytes is abandoned as soon as it falls behind.
 * 16 KiB/s is 128 kbit/s: a 64 MiB result may take 68 minutes, a 2 MB one two minutes past the grace.
 */
export const MIN_BYTES_PER_SECOND = 16 * 1024

/** Most redirects a result download follows before it gives up. */
export const MAX_DOWNLOAD_REDIRECTS = 5

/** Longest Retry-After honoured; a longer one is kept at this cap (the value is never dropped). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000

/** Most bytes of a failed download's body read for its error message. */
const ERROR_BODY_BYTES = 64 * 1024

/** Redirect statuses a download follows (with a Location). */
const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** Headers never sent to another origin than the first URL's. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization'])

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

/**
 * Downloads a result. Only `https` URLs, or `http` ones on the provider's own configured origin
 * (a local gateway, the test server). Follows at most {@link MAX_DOWNLOAD_REDIRECTS} redirects,
 * each checked by the same address rules, credentials never sent to another origin; at most
 * `maxBytes`, arriving at {@link MIN_BYTES_PER_SECOND} after a grace of `timeoutMs`; a short or
 * cut body is an error, never a half image.
 */
export async function download(
  context: HttpContext,
  url: string,
  options: {
    signal: AbortSignal
    maxBytes: number
    /** Give up waiting for headers (or for the next bytes) after this long; the body's grace period. */
    timeoutMs: number
    allowedHttpOrigin?: string
    /** Request headers; credentials among them are dropped on a redirect to another origin. */
    headers?: Record<string, string>
  },
): Promise<Buffer> {
  const first = checkedUrl(context, url, options.allowedHttpOrigin, undefined)
  const visited = new Set<string>([first.href])
  let current = first
  for (let hops = 0; ; hops++) {
    const response = await get(context, current, sameOrigin(current, first) ? options.headers : withoutCredentials(options.headers), options)
    const location = REDIRECTS.has(response.statusCode) ? header(response.headers, 'location') : undefined
    if (location === undefined) return readResult(context, current, response, options)
    await response.body.dump().catch(() => {})
    const next = nextHop(context, current, location, response.statusCode, options.allowedHttpOrigin)
    if (visited.has(next.href))
      throw fail(context, `a ${context.provider} result URL redirects in a loop (back to ${next.host}${next.pathname}); it cannot be downloaded`, {
        stage: 'download',
        status: response.statusCode,
      })
    if (hops + 1 > MAX_DOWNLOAD_REDIRECTS) {
      throw fail(context, `a ${context.provider} result URL redirected more than ${MAX_DOWNLOAD_REDIRECTS} times; it cannot be downloaded`, {
        stage: 'download',
        status: response.statusCode,
      })
    }
    visited.add(next.href)
    current = next
  }
}

/** One GET of a download hop; redirects are not followed here. */
async function get(
  context: HttpContext,
  url: URL,
  headers: Record<string, string> | undefined,
  options: { signal: AbortSignal; timeoutMs: number },
): Promise<Dispatcher.ResponseData> {
  const { request } = await import('undici')
  const dispatcher = await dispatcherOf(context)
  try {
    return await request(url, {
      method: 'GET',
      ...(headers ? { headers } : {}),
      signal: options.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      dispatcher,
    })
  } catch (error) {
    throw transportError(context, 'download', url.href, error, options.signal)
  }
}

/** The final answer of a download: its status checked, its body read under the cap and the deadline. */
async function readResult(
  context: HttpContext,
  url: URL,
  response: Dispatcher.ResponseData,
  options: { signal: AbortSignal; maxBytes: number; timeoutMs: number },
): Promise<Buffer> {
  if (response.statusCode !== 200) throw await downloadStatusError(context, url, response, options)
  const declared = declaredLength(response.headers)
  if (declared !== undefined && declared > options.maxBytes) {
    response.body.destroy()
    throw fail(context, `a ${context.provider} result is ${declared} bytes, over the ${options.maxBytes}-byte cap`, { stage: 'download' })
  }
  let bytes: Buffer
  try {
    bytes = await readBody(response.body, { maxBytes: options.maxBytes, graceMs: options.timeoutMs, declared }, options.signal, context, 'download', url.href)
  } catch (error) {
    if (ImagesEditError.is(error)) throw error
    throw transportError(context, 'download', url.href, error, options.signal, true)
  }
  if (declared !== undefined && bytes.length !== declared) {
    throw fail(context, `a ${context.provider} download was cut short (${bytes.length} of ${declared} bytes)`, { stage: 'download', retryable: true })
  }
  return bytes
}

/** A download answered neither 200 nor a redirect: the status, and what the body says (redacted, cut). */
async function downloadStatusError(
  context: HttpContext,
  url: URL,
  response: Dispatcher.ResponseData,
  options: { signal: AbortSignal; timeoutMs: number },
): Promise<ImagesEditError> {
  const status = response.statusCode
  const limits = { maxBytes: ERROR_BODY_BYTES, graceMs: options.timeoutMs, declared: undefined }
  const text = await readBody(response.body, limits, options.signal, context, 'download', url.href)
    .then((bytes) => bytes.toString('utf8'))
    .catch(() => '')
  if (options.signal.aborted) return new ImagesEditError('ABORTED', 'interrupted', { cause: options.signal.reason })
  const detail = text.trim() ? `: ${snippet(text, context.secrets)}` : ''
  const expired = [401, 403, 404, 410].includes(status)
  const redirect = status >= 300 && status < 400
  return fail(
    context,
    expired
      ? `the result URL of ${context.provider} answered HTTP ${status}: it has expired or is gone (results must be downloaded within their lifetime)${detail}`
      : redirect
        ? `a ${context.provider} result URL answered HTTP ${status} without a place to go (no Location)${detail}`
        : `downloading a ${context.provider} result failed with HTTP ${status}${detail}`,
    { stage: 'download', status, retryable: !expired && !redirect, ...retryAfter(response.headers) },
  )
}

/** The URL a redirect points at, resolved against the current one and checked like the first. */
function nextHop(context: HttpContext, current: URL, location: string, status: number, allowedHttpOrigin: string | undefined): URL {
  let next: URL
  try {
    next = new URL(location, current)
  } catch {
    throw fail(context, `a ${context.provider} result URL redirected (HTTP ${status}) to something that is not a URL: ${snippet(location, context.secrets)}`, {
      stage: 'download',
      status,
    })
  }
  return checkedUrl(context, next.href, allowedHttpOrigin, status)
}

/** `url` parsed, if it is `https:` or `http:` on the allowed origin; otherwise the error that says why. */
function checkedUrl(context: HttpContext, url: string, allowedHttpOrigin: string | undefined, redirectStatus: number | undefined): URL {
  const what =
    redirectStatus === undefined ? `${context.provider} returned a result URL` : `a ${context.provider} result URL redirected (HTTP ${redirectStatus}) to a URL`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw fail(context, `${what} that is not a URL: ${snippet(url, context.secrets)}`, { stage: 'download' })
  }
  if (parsed.protocol === 'https:' || (parsed.protocol === 'http:' && parsed.origin === allowedHttpOrigin)) return parsed
  const shown = `${parsed.protocol}${parsed.protocol === 'http:' ? `//${parsed.host}` : ''}`
  throw fail(context, `${what} that is not https: ${shown}`, {
    stage: 'download',
    ...(redirectStatus !== undefined ? { status: redirectStatus } : {}),
  })
}

function sameOrigin(a: URL, b: URL): boolean {
  return a.origin === b.origin
}

function withoutCredentials(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return undefined
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())))
}

/** Content-Length as a number, when the answer declares one. */
function declaredLength(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = header(headers, 'content-length')
  if (raw === undefined || !/^\s*\d+\s*$/.test(raw)) return undefined
  return Number(raw)
}

/**
 * Reads a body, refusing more than `maxBytes` (an unbounded answer must not fill memory) and
 * abandoning it once it falls behind {@link MIN_BYTES_PER_SECOND} after `graceMs`: a server that
 * drips bytes never resets undici's inactivity timeouts, so they alone would wait forever.
 */
async function readBody(
  body: AsyncIterable<Uint8Array> & { destroy(error?: Error): void },
  limits: { maxBytes: number; graceMs: number; declared: number | undefined },
  signal: AbortSignal,
  context: HttpContext,
  stage: Stage,
  url: string,
): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let length = 0
  const started = Date.now()
  let tooSlow = false
  const dueAt = () => started + limits.graceMs + (length / MIN_BYTES_PER_SECOND) * 1000
  let timer: NodeJS.Timeout | undefined
  const watch = () => {
    timer = setTimeout(
      () => {
        if (Date.now() < dueAt()) return watch()
        tooSlow = true
        body.destroy(new Error('response body too slow'))
      },
      Math.max(1, dueAt() - Date.now()),
    )
  }
  watch()
  try {
    for await (const chunk of body) {
      length += chunk.byteLength
      if (length > limits.maxBytes) {
        body.destroy()
        throw fail(context, `${context.provider}: the answer to ${stage} exceeded the ${limits.maxBytes}-byte cap and was abandoned`, {
          stage,
          // An oversized answer to a read can be read again; a paid call's answer cannot be.
          retryable: !isPaid(stage),
        })
      }
      chunks.push(chunk)
      if (signal.aborted) break
    }
  } catch (error) {
    if (tooSlow && !signal.aborted) throw slowError(context, stage, url, length, limits, Date.now() - started)
    throw error
  } finally {
    clearTimeout(timer)
  }
  return Buffer.concat(chunks)
}

function slowError(
  context: HttpContext,
  stage: Stage,
  url: string,
  length: number,
  limits: { maxBytes: number; graceMs: number; declared: number | undefined },
  elapsedMs: number,
): ProviderError {
  const expected = Math.min(limits.maxBytes, limits.declared ?? limits.maxBytes)
  const latest = Math.ceil((limits.graceMs + (expected / MIN_BYTES_PER_SECOND) * 1000) / 1000)
  const what =
    stage === 'download'
      ? `the download of a ${context.provider} result from ${safeHost(url)}`
      : `the answer of ${context.provider} to ${stage} (${safeHost(url)})`
  return fail(
    context,
    `${what} was too slow and was abandoned: ${length} ${limits.declared !== undefined ? `of ${limits.declared} ` : ''}bytes in ${Math.round(elapsedMs / 1000)} s, under the minimum of ${MIN_BYTES_PER_SECOND / 1024} KiB/s after a ${Math.round(limits.graceMs / 1000)} s grace (it would have had until ${latest} s)${isPaid(stage) ? '' : '; it is retried, and a rerun downloads again at no cost'}`,
    { stage, retryable: !isPaid(stage) },
  )
}

/** Paid stages: their answer cannot be asked for again. */
function isPaid(stage: Stage): boolean {
  return stage === 'submit' || stage === 'generate'
}

/** A {@link ProviderError} of this context whose message has gone through {@link redact}. */
function fail(context: HttpContext, message: string, details: Omit<ConstructorParameters<typeof ProviderError>[1], 'provider'>): ProviderError {
  return new ProviderError(redact(message, context.secrets), { provider: context.provider, ...details })
}

function transportError(context: HttpContext, stage: Stage, url: string, error: unknown, signal: AbortSignal, afterHeaders = false): ImagesEditError {
  if (signal.aborted) return new ImagesEditError('ABORTED', 'interrupted', { cause: signal.reason })
  const code = errorCode(error)
  const host = safeHost(url)
  const notSent = !afterHeaders && code !== undefined && NOT_SENT.has(code)
  return fail(context, `${context.provider}: ${describeTransport(code)} (${host}, ${stage})`, {
    stage,
    retryable: code === undefined || TRANSIENT.has(code),
    notAccepted: notSent,
  })
}

let ownAgent: Dispatcher | undefined

/**
 * The dispatcher of a call: the one given; else undici's global dispatcher when it is one of this
 * undici's own (a user's `setGlobalDispatcher(new ProxyAgent(…))`, or a test's MockAgent); else an
 * agent of our own that honours `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`. Never a global
 * dispatcher of another undici: that slot is shared through `globalThis` with Node's built-in
 * fetch, and when a host process (Astro's build, for one) has made a fetch first, it holds Node's
 * bundled undici, which cannot send this undici's multipart bodies ("action is not a function").
 */
async function dispatcherOf(context: { dispatcher?: Dispatcher }): Promise<Dispatcher> {
  if (context.dispatcher) return context.dispatcher
  const undici = await import('undici')
  const global = undici.getGlobalDispatcher()
  if (global instanceof undici.Dispatcher && !(global instanceof undici.Agent && global.constructor === undici.Agent)) return global
  ownAgent ??= new undici.EnvHttpProxyAgent()
  return ownAgent
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

/**
 * How long the server asks us to wait: `retry-after-ms` (float milliseconds, as OpenAI sends) or
 * `Retry-After` (seconds, or an HTTP date). A wait above {@link MAX_RETRY_AFTER_MS} is kept at
 * that cap; a date in the past is no wait; a value that cannot be read is ignored.
 */
export function retryAfter(headers: Record<string, string | string[] | undefined>): { retryAfterMs?: number } {
  const value = retryAfterValue(header(headers, 'retry-after-ms'), header(headers, 'retry-after'))
  return value === undefined ? {} : { retryAfterMs: Math.min(MAX_RETRY_AFTER_MS, value) }
}

function retryAfterValue(milliseconds: string | undefined, retryAfterHeader: string | undefined): number | undefined {
  const number = /^\s*\d+(?:\.\d+)?\s*$/
  if (milliseconds !== undefined && number.test(milliseconds)) return Number.parseFloat(milliseconds)
  if (retryAfterHeader === undefined) return undefined
  if (number.test(retryAfterHeader)) return Number.parseFloat(retryAfterHeader) * 1000
  // An HTTP date names its day and month; anything else (`-5`, `soon`) is ignored.
  const date = /[a-z]{3}/i.test(retryAfterHeader) ? Date.parse(retryAfterHeader) : Number.NaN
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined
}

/**
 * The first part of a text body for an error message, without secrets, HTML tags or long lines.
 * Secrets are taken out of the whole text first, then it is cut: a key across the cut leaves
 * no piece behind.
 */
export function snippet(text: string, secrets: readonly string[]): string {
  const clean = redact(text, secrets)
  const title = /<title>([^<]*)<\/title>/i.exec(clean)?.[1]
  const plain = (title ?? clean.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim()
  return plain.length > 200 ? `${plain.slice(0, 200)}…` : plain || '(empty body)'
}

/** A mapped error with its message, code and request id redacted (and the request id filled in). */
function redactError(context: HttpContext, error: ProviderError, requestId: string | undefined): ProviderError {
  const message = redact(error.message, context.secrets)
  const providerCode = error.providerCode === undefined ? undefined : redact(error.providerCode, context.secrets)
  const ownRequestId = error.requestId === undefined ? undefined : redact(error.requestId, context.secrets)
  if (message === error.message && providerCode === error.providerCode && ownRequestId === error.requestId && (ownRequestId || !requestId)) return error
  return new ProviderError(message, {
    provider: error.provider,
    stage: error.stage,
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(providerCode !== undefined ? { providerCode } : {}),
    ...((ownRequestId ?? requestId) ? { requestId: ownRequestId ?? requestId } : {}),
    retryable: error.retryable,
    notAccepted: error.notAccepted,
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    ...(error.billedTaskId !== undefined ? { billedTaskId: error.billedTaskId } : {}),
  })
}
