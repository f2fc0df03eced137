/**
 * The one rule that decides, from an HTTP error answer, whether a call may be sent again. Every
 * provider's error mapper takes its `retryable` / `notAccepted` / `retryAfterMs` from here, so a
 * new provider cannot invent its own idea of "surely not billed".
 *
 * A paid call (toapis submit, aa generate, openai edit) is `notAccepted` only on a provider's
 * documented not-accepted answers: a 429 rate limit (not a quota or billing 429, which is a final
 * refusal), and toapis' JSON 503 `rate_limit_unavailable` (providers.md §1.6–1.7). A connection
 * refused before sending is marked in http.ts. Anything else — an HTML gateway page, a bare 503,
 * 500/502/504, a 503 with another code — may have reached the service: it is not repeated.
 */
import { header, retryAfter, type Stage } from './http.js'
import type { ProviderId } from './provider.js'

/** Stages that cost money: a repeat may be billed twice. */
export const PAID_STAGES: readonly Stage[] = ['submit', 'generate']

/** Whether a stage is a paid call. */
export function isPaidStage(stage: Stage): boolean {
  return PAID_STAGES.includes(stage)
}

/**
 * 429 codes that are a final refusal (the account must be topped up or its limit raised), not a
 * rate limit to wait out (providers.md §3.7).
 */
const FINAL_REFUSAL_CODES: ReadonlySet<string> = new Set(['insufficient_quota', 'billing_hard_limit_reached', 'credit_balance_exhausted'])

/**
 * 503 codes each provider documents as "the request was not processed". Only a JSON answer
 * carrying one of them counts; a provider missing here (aa, openai) documents none.
 */
const NOT_ACCEPTED_503_CODES: Partial<Record<ProviderId, readonly string[]>> = {
  toapis: ['rate_limit_unavailable'],
}

/** What the rule looks at in an error answer. */
export interface ErrorAnswer {
  provider: ProviderId
  stage: Stage
  status: number
  /** The provider's error code as parsed from a JSON body (undefined for a non-JSON body). */
  code?: string | undefined
  /** Whether the body parsed as JSON. */
  json: boolean
  headers: Record<string, string | string[] | undefined>
}

/** The retry facts of an error answer, ready to spread into a `ProviderError`. */
export interface RetryFacts {
  /** A free stage may send the same request again. */
  retryable: boolean
  /** Certainly not accepted: even a paid call may be sent again. */
  notAccepted: boolean
  retryAfterMs?: number
}

/** Whether the answer is a final refusal (quota, billing) that no retry can fix. */
export function isFinalRefusal(code: string | undefined): boolean {
  return code !== undefined && FINAL_REFUSAL_CODES.has(code)
}

/** Whether the service documents this answer as "not accepted" (nothing was started or billed). */
export function isDocumentedNotAccepted(answer: ErrorAnswer): boolean {
  if (isFinalRefusal(answer.code)) return false
  if (answer.status === 429) return true
  if (answer.status !== 503 || !answer.json || answer.code === undefined) return false
  const type = header(answer.headers, 'content-type')
  if (type !== undefined && !/\bjson\b/i.test(type)) return false
  return (NOT_ACCEPTED_503_CODES[answer.provider] ?? []).includes(answer.code)
}

/** Whether an answer is transient (worth repeating for a free stage): 408, 409, 429 and 5xx. */
function isTransient(answer: ErrorAnswer): boolean {
  if (isFinalRefusal(answer.code)) return false
  return answer.status === 408 || answer.status === 409 || answer.status === 429 || answer.status >= 500
}

/**
 * The retry facts of one error answer. Free stages (upload, poll, download) repeat anything
 * transient; a paid stage is `notAccepted` only on a documented not-accepted answer, and the
 * runner reports every other transient failure of a paid call as "may have been billed".
 */
export function retryFacts(answer: ErrorAnswer): RetryFacts {
  const retryable = isTransient(answer)
  const notAccepted = isDocumentedNotAccepted(answer)
  return { retryable, notAccepted, ...(retryable || notAccepted ? retryAfter(answer.headers) : {}) }
}
