// How toapis error answers read: each HTTP status and provider code mapped to a ProviderError.
import { type ErrorMapper, header, ProviderError, type Stage, snippet } from './http.js'
import { retryFacts } from './paid-rule.js'

/** toapis error bodies vary (providers.md §1.6): OpenAI-style, flat `{message}`, or HTML from the gateway. */
export const mapToapisError: ErrorMapper = ({ status, body, text, headers }, stage: Stage) => {
  const envelope = (body ?? {}) as { error?: { code?: unknown; type?: unknown; message?: unknown }; message?: unknown; code?: unknown }
  const code =
    String(
      envelope.error?.code ??
        envelope.error?.type ??
        envelope.code ??
        (typeof envelope.message === 'string' && /^[a-z_]+$/.test(envelope.message) ? envelope.message : ''),
    ) || undefined
  const detail =
    typeof envelope.error?.message === 'string' ? envelope.error.message : typeof envelope.message === 'string' ? envelope.message : snippet(text, [])
  const requestId = header(headers, 'x-request-id')
  const base = { provider: 'toapis' as const, stage, status, ...(code ? { providerCode: code } : {}), ...(requestId ? { requestId } : {}) }
  const retry = retryFacts({ provider: 'toapis', stage, status, code, json: body !== undefined, headers })
  if (status === 401 || status === 403) {
    return new ProviderError(`toapis rejected the API key (HTTP ${status}: ${detail}). Check TOAPIS_API_KEY (or the variable named by apiKeyEnv).`, base)
  }
  if (status === 402 || code === 'insufficient_quota')
    return new ProviderError(`toapis: insufficient balance (HTTP ${status}: ${detail}). Top up your toapis account.`, base)
  if (status === 422 || code === 'content_policy_violation')
    return new ProviderError(`toapis refused the request on content policy: ${detail}. Change the prompt or references; it is not retried.`, base)
  if (code === 'task_not_exist' || code === 'task_not_found' || (status === 404 && stage === 'poll')) {
    return new ProviderError('toapis does not know this task (expired or never created); the job will be submitted again on the next run', base)
  }
  if (status === 429) return new ProviderError(`toapis rate limit (HTTP 429${detail ? `: ${detail}` : ''})`, { ...base, ...retry })
  if (status === 503) return new ProviderError(`toapis is unavailable (HTTP 503: ${detail})`, { ...base, ...retry })
  if (status >= 500 || status === 408) return new ProviderError(`toapis server error (HTTP ${status}: ${detail})`, { ...base, ...retry })
  return new ProviderError(`toapis rejected the request (HTTP ${status}: ${detail})`, base)
}
