import { STATUS_CODES } from 'node:http'
import type { Fault, RouteId } from './types.js'

/** A complete response, built by a route handler before faults decide how it is delivered. */
export interface Reply {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** `hold`: never answer (stall, never-finishes on a synchronous route). */
export type HandlerResult = Reply | 'hold'

export type Protocol = 'toapis' | 'aa' | 'openai' | 'files'

export function protocolOf(route: RouteId): Protocol {
  return route.slice(0, route.indexOf('.')) as Protocol
}

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: Buffer.from(JSON.stringify(value)) }
}

// ---------------------------------------------------------------------------------------------
// toapis (providers.md §1.5, §1.6)

const toapisCodes: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  402: 'insufficient_quota',
  404: 'task_not_found',
  422: 'content_policy_violation',
  429: 'rate_limit_exceeded',
  500: 'internal_error',
  503: 'rate_limit_unavailable',
}

const toapisMessages: Record<string, string> = {
  invalid_request: 'Invalid request parameters',
  insufficient_quota: 'Insufficient balance, please top up',
  task_not_found: 'Task not found',
  content_policy_violation: 'Your request was rejected by the content policy',
  rate_limit_exceeded: 'Rate limit exceeded, please retry later',
  internal_error: 'Internal server error',
  rate_limit_unavailable: 'Rate limiter temporarily unavailable, please retry later',
}

/** OpenAI-style toapis error `{"error":{"code","message","type"}}`. */
export function toapisError(status: number, code: string, message?: string, headers: Record<string, string> = {}): Reply {
  return jsonReply(status, { error: { code, message: message ?? toapisMessages[code] ?? code, type: code } }, headers)
}

/** The 401 body seen in practice: `{"error":{"message":"无效的令牌"}}` (providers.md §1.6). */
export function toapisUnauthorized(): Reply {
  return jsonReply(401, { error: { message: '无效的令牌' } })
}

/** The upload endpoint's own error envelope: HTTP 400 `{"success":false,"message"}`. */
export function toapisUploadError(message: string, status = 400): Reply {
  return jsonReply(status, { success: false, message })
}

// ---------------------------------------------------------------------------------------------
// aa (providers.md §2): `{code, message, request_id, data}`; non-zero codes are our assumption.

export function aaError(status: number, message: string, requestId: string, data: unknown = null, code: number = status): Reply {
  return jsonReply(status, { code, message, request_id: requestId, data }, { 'x-request-id': requestId })
}

// ---------------------------------------------------------------------------------------------
// OpenAI (providers.md §3.7): `{"error":{"message","type","param","code"}}` plus `x-request-id`.

export function openaiError(
  status: number,
  message: string,
  requestId: string,
  type = 'invalid_request_error',
  param: string | null = null,
  code: string | null = null,
  extra: Record<string, unknown> = {},
): Reply {
  return jsonReply(status, { error: { message, type, param, code, ...extra } }, { 'x-request-id': requestId })
}

export function openaiModerationBlocked(requestId: string): Reply {
  return openaiError(
    400,
    'Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID.',
    requestId,
    'image_generation_user_error',
    null,
    'moderation_blocked',
    { moderation_details: { moderation_stage: 'input', categories: ['fake-policy'] } },
  )
}

// ---------------------------------------------------------------------------------------------
// Object storage (files.toapis.com and friends): XML errors like S3/OSS/TOS. Our assumption.

export function xmlError(status: number, code: string, message: string, requestId: string): Reply {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>\n`
  return { status, headers: { 'content-type': 'application/xml', 'x-request-id': requestId }, body: Buffer.from(body) }
}

// ---------------------------------------------------------------------------------------------
// Gateway pages (providers.md §1.6: volc-dcdn/tengine HTML 5xx pages).

const gatewayTitles: Record<number, string> = { 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out' }

export function htmlGatewayPage(status: number): Reply {
  const title = `${status} ${gatewayTitles[status] ?? STATUS_CODES[status] ?? 'Error'}`
  const body = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>tengine</center>\r\n</body>\r\n</html>\r\n`
  return { status, headers: { 'content-type': 'text/html', server: 'Tengine' }, body: Buffer.from(body) }
}

// ---------------------------------------------------------------------------------------------

type StatusFault = Extract<Fault, { kind: 'status' }>

/** Retry-After / retry-after-ms headers of a status fault. */
function retryHeaders(fault: StatusFault): Record<string, string> {
  const headers: Record<string, string> = {}
  if (typeof fault.retryAfter === 'number') headers['retry-after'] = String(fault.retryAfter)
  else if (fault.retryAfter === undefined && fault.retryAfterMs === undefined && (fault.status === 429 || fault.status === 503)) headers['retry-after'] = '1'
  if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs)
  return headers
}

/** The response of a `status` fault on `route`, in that protocol's error shape. */
export function statusFaultReply(route: RouteId, fault: StatusFault, requestId: string): Reply {
  const status = fault.status
  let reply: Reply
  if (fault.html) {
    reply = htmlGatewayPage(status)
  } else if (fault.body !== undefined) {
    const raw = fault.body
    if (typeof raw === 'string') {
      const looksJson = /^\s*[[{]/.test(raw)
      reply = { status, headers: { 'content-type': looksJson ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8' }, body: Buffer.from(raw) }
    } else if (raw instanceof Uint8Array) {
      reply = { status, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(raw) }
    } else {
      reply = jsonReply(status, raw)
    }
  } else {
    reply = defaultErrorBody(route, status, requestId)
  }
  const extra: Record<string, string> = { ...retryHeaders(fault) }
  if (route.startsWith('toapis.') && status === 429) {
    extra['x-ratelimit-limit'] = route === 'toapis.poll' ? '3000' : '300'
    extra['x-ratelimit-remaining'] = '0'
    extra['x-ratelimit-reset'] = String(Math.ceil(Date.now() / 1000) + 1)
    extra['x-ratelimit-category'] = route === 'toapis.poll' ? 'async_query' : 'async_submit'
  }
  reply.headers = { ...reply.headers, 'x-request-id': requestId, ...extra, ...(fault.headers ?? {}) }
  return reply
}

function defaultErrorBody(route: RouteId, status: number, requestId: string): Reply {
  const reason = STATUS_CODES[status] ?? 'Error'
  switch (route) {
    case 'toapis.upload':
    case 'toapis.submit':
    case 'toapis.poll':
    case 'toapis.models': {
      if (status === 401) return toapisUnauthorized()
      if (route === 'toapis.upload' && status >= 400 && status < 500 && status !== 429) return toapisUploadError(reason, status)
      const code = toapisCodes[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request')
      return toapisError(status, code)
    }
    case 'aa.generate':
      return aaError(status, status === 429 ? 'rate limit exceeded, please retry later' : status >= 500 ? 'internal server error' : reason, requestId)
    case 'openai.edit':
      if (status === 401) return openaiError(401, 'Incorrect API key provided.', requestId, 'invalid_request_error', null, 'invalid_api_key')
      if (status === 429)
        return openaiError(429, 'Rate limit reached for images per minute. Please try again later.', requestId, 'requests', null, 'rate_limit_exceeded')
      if (status === 503) return openaiError(503, 'The server is overloaded or not ready yet.', requestId, 'server_error')
      if (status >= 500) return openaiError(status, 'The server had an error while processing your request. Sorry about that!', requestId, 'server_error')
      return openaiError(status, reason, requestId)
    case 'files.download': {
      const codes: Record<number, string> = { 403: 'AccessDenied', 404: 'NoSuchKey', 429: 'SlowDown', 503: 'ServiceUnavailable' }
      return xmlError(status, codes[status] ?? (status >= 500 ? 'InternalError' : 'InvalidRequest'), reason, requestId)
    }
  }
}
