// Reading response headers: one value, Content-Length, and how long Retry-After asks to wait.

/** Longest Retry-After honoured; a longer one is kept at this cap (the value is never dropped). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000

/** Content-Length as a number, when the answer declares one. */
export function declaredLength(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = header(headers, 'content-length')
  if (raw === undefined || !/^\s*\d+\s*$/.test(raw)) return undefined
  return Number(raw)
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
