// Provider errors: the ProviderError class, transport failures, and how messages are built and redacted.
import { ImagesEditError } from '../errors.js'
import { redact } from '../secrets/redact.js'
import type { HttpContext } from './http-context.js'
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

/**
 * Maps an HTTP error response of one provider to a {@link ProviderError}. `text` and `body` have
 * already gone through {@link redact}: the mapper may quote or cut them freely.
 */
export type ErrorMapper = (
  response: { status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined> },
  stage: Stage,
) => ProviderError

/** Paid stages: their answer cannot be asked for again. */
export function isPaid(stage: Stage): boolean {
  return stage === 'submit' || stage === 'generate'
}

/** A {@link ProviderError} of this context whose message has gone through {@link redact}. */
export function fail(context: HttpContext, message: string, details: Omit<ConstructorParameters<typeof ProviderError>[1], 'provider'>): ProviderError {
  return new ProviderError(redact(message, context.secrets), { provider: context.provider, ...details })
}

export function transportError(context: HttpContext, stage: Stage, url: string, error: unknown, signal: AbortSignal, afterHeaders = false): ImagesEditError {
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

export function safeHost(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return 'invalid URL'
  }
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
export function redactError(context: HttpContext, error: ProviderError, requestId: string | undefined): ProviderError {
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
