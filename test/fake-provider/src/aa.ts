/**
 * 典名词元 (api.aa.com.cn): POST /api/v1/image/generation (providers.md §2). Synchronous: the
 * response carries `data.urls` after the configured latency. Error codes are our assumption
 * (the docs do not list them): non-zero `code` equal to the HTTP status.
 */
import type { ImageInfo } from './images.js'
import { isParamError, maskProblem, validateGenParams } from './params.js'
import { aaError, type HandlerResult, jsonReply } from './replies.js'
import type { FakeServerImpl, RequestContext } from './server.js'
import { elide, hex, isRecord, parseJson, show } from './util.js'

type Ref = { url: string } | { error: string }

/** An ImageRefParam: exactly one of image_url / file_id, nothing else. */
export function parseRef(value: unknown, where: string, maxUrlLength = 20_971_520): Ref {
  if (!isRecord(value)) return { error: `${where} must be an object with image_url or file_id, got ${show(value)}` }
  const keys = Object.keys(value)
  const extra = keys.filter((k) => k !== 'image_url' && k !== 'file_id')
  if (extra.length > 0) return { error: `${where} has unknown properties: ${extra.join(', ')}` }
  const hasUrl = value.image_url !== undefined && value.image_url !== null
  const hasFile = value.file_id !== undefined && value.file_id !== null
  if (hasUrl === hasFile) return { error: `${where} must have exactly one of image_url or file_id` }
  if (hasFile) return { error: `${where}.file_id is not supported by the fake provider server; send image_url` }
  if (typeof value.image_url !== 'string' || value.image_url === '') return { error: `${where}.image_url must be a non-empty string` }
  if (value.image_url.length > maxUrlLength) return { error: `${where}.image_url is longer than ${maxUrlLength} characters` }
  return { url: value.image_url }
}

/** Resolves image refs and the optional mask; returns the image infos or an error message. */
export async function resolveRefs(
  server: FakeServerImpl,
  images: unknown,
  mask: unknown,
  field: string,
  required: boolean,
): Promise<{ infos: ImageInfo[] } | { error: string; param: string }> {
  const infos: ImageInfo[] = []
  if (images === undefined || images === null) {
    if (required) return { error: `Missing required parameter: '${field}'.`, param: field }
  } else {
    if (!Array.isArray(images)) return { error: `${field} must be an array of image references`, param: field }
    if (images.length === 0) return { error: `${field} must contain at least 1 image`, param: field }
    if (images.length > 16) return { error: `${field} accepts at most 16 images, got ${images.length}`, param: field }
    for (const [i, item] of images.entries()) {
      const ref = parseRef(item, `${field}[${i}]`)
      if ('error' in ref) return { error: ref.error, param: `${field}[${i}]` }
      const fetched = await server.resolveImageUrl(ref.url)
      if ('error' in fetched) return { error: `${field}[${i}]: ${fetched.error}`, param: `${field}[${i}]` }
      if (!['png', 'jpeg', 'webp'].includes(fetched.info.format)) {
        return { error: `${field}[${i}]: unsupported image format '${fetched.info.format}'; supported: png, jpeg, webp`, param: `${field}[${i}]` }
      }
      infos.push(fetched.info)
    }
  }
  if (mask !== undefined && mask !== null) {
    const ref = parseRef(mask, 'mask')
    if ('error' in ref) return { error: ref.error, param: 'mask' }
    if (infos.length === 0) return { error: `mask requires ${field}`, param: 'mask' }
    const fetched = await server.resolveImageUrl(ref.url)
    if ('error' in fetched) return { error: `mask: ${fetched.error}`, param: 'mask' }
    const problem = maskProblem(fetched.info, infos[0])
    if (problem) return { error: problem, param: 'mask' }
  }
  return { infos }
}

export async function aaGenerate(server: FakeServerImpl, ctx: RequestContext): Promise<HandlerResult> {
  const rid = ctx.requestId
  const bad = (message: string) => aaError(400, message, rid)
  const body = parseJson(ctx.body)
  if (!isRecord(body)) return bad('invalid request body: expected a JSON object')
  const recorded = elide(body) as Record<string, unknown>
  server.recordBody(ctx.route, recorded)

  const { model, prompt } = body
  if (typeof model !== 'string' || !server.models.aa.includes(model)) return bad(`model ${show(model)} is not supported; use ${server.models.aa.join(', ')}`)
  if (typeof prompt !== 'string' || prompt.length < 1 || prompt.length > 32000) return bad('prompt must be a string of 1 to 32000 characters')
  const params = validateGenParams(body, { strings: false, moderation: true })
  if (isParamError(params)) return bad(params.message)
  if (body.response_format !== undefined && body.response_format !== null && body.response_format !== 'url') {
    return bad(`response_format ${show(body.response_format)} is not supported; results are returned as URLs`)
  }
  const refs = await resolveRefs(server, body.images, body.mask, 'images', false)
  if ('error' in refs) return bad(refs.error)

  const early = server.promptFault(ctx, prompt)
  if (early) return early
  const fault = ctx.fault
  if (fault?.kind === 'policy') {
    return bad('Your request was rejected by the safety system (moderation_blocked).')
  }

  const taskId = `task_${hex(10)}`
  server.accept({ route: 'aa.generate', prompt, n: params.n, body: recorded, taskId })
  if (fault?.kind === 'never-finishes') return 'hold'
  const specs = Array.from({ length: params.n }, (_, i) => ({
    width: params.width,
    height: params.height,
    format: params.format,
    ...(params.compression !== undefined ? { compression: params.compression } : {}),
    seed: `${prompt}\n${i}\n${taskId}`,
    transparent: params.background === 'transparent',
  }))
  // The images are made while the call runs, as a real service makes them, not when downloaded.
  if (fault === undefined) for (const spec of specs) server.prerender(spec, 'normal')
  const latency = server.sampleLatency()
  await server.sleep(latency)
  if (server.isClosed()) return 'hold'
  if (fault?.kind === 'aa-early') {
    // Accepted (and billed) but answered before the task had images (providers.md, 2026-12 check).
    return jsonReply(
      200,
      {
        code: fault.codeAsString ? '0' : 0,
        message: 'success',
        request_id: rid,
        data: { urls: [], ...(fault.noTaskId ? {} : { task_id: taskId }), task_status: fault.status ?? 'processing' },
      },
      { 'x-request-id': rid },
    )
  }
  if (fault?.kind === 'task-fails') {
    const code = typeof fault.code === 'number' ? fault.code : 500
    return aaError(500, fault.message ?? 'image generation failed', rid, { task_id: taskId, task_status: 'failed' }, code)
  }

  const now = server.now()
  const expiresAt = fault?.kind === 'expired' ? now : now + server.resultTtlMs
  const variant = fault?.kind === 'not-image' ? 'not-image' : fault?.kind === 'wrong-size' ? 'wrong-size' : 'normal'
  const urls = specs.map((spec) => server.fileUrl(server.storeResult(spec, now, expiresAt, variant)))
  const inputTokens = Math.ceil(prompt.length / 4) + 256 * refs.infos.length
  const outputTokens = 1056 * params.n
  return jsonReply(
    200,
    {
      code: fault?.kind === 'code-as-string' ? '0' : 0,
      message: 'success',
      request_id: rid,
      data: {
        urls,
        usage: {
          images: params.n,
          seconds: Math.round(latency / 1000),
          input_tokens: inputTokens,
          total_tokens: inputTokens + outputTokens,
          output_tokens: outputTokens,
        },
        expired: new Date(expiresAt).toISOString(),
        task_id: taskId,
        task_status: 'succeeded',
      },
    },
    { 'x-request-id': rid },
  )
}
