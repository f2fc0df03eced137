// Downloading a result: address rules, redirects, credentials kept to the first origin, and the checked body.
import type { Dispatcher } from 'undici'
import { ImagesEditError } from '../errors.js'
import { readBody } from './http-body.js'
import { dispatcherOf, type HttpContext } from './http-context.js'
import { fail, snippet, transportError } from './http-errors.js'
import { declaredLength, header, retryAfter } from './http-headers.js'

/** Most redirects a result download follows before it gives up. */
export const MAX_DOWNLOAD_REDIRECTS = 5

/** Most bytes of a failed download's body read for its error message. */
const ERROR_BODY_BYTES = 64 * 1024

/** Redirect statuses a download follows (with a Location). */
const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** Headers never sent to another origin than the first URL's. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization'])

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
