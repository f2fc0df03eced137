/**
 * toapis: upload, submit, poll, models (providers.md §1). Output URLs are served by files.ts.
 */
import type { ImageInfo } from './images.js'
import { inspectImage } from './images.js'
import { boundaryOf, type MultipartPart, parseMultipart } from './multipart.js'
import { type HandlerResult, jsonReply, toapisError, toapisUploadError } from './replies.js'
import type { FakeServerImpl, RequestContext, StoredFile } from './server.js'
import { isToapisRatio, nearestToapisRatio, TOAPIS_RATIOS, type ToapisResolution, toapisPixelSize } from './sizes.js'
import type { Fault, MultipartSummary } from './types.js'
import { elide, isRecord, parseJson, show, ulidish, unixSeconds } from './util.js'

const MB = 1024 * 1024
const UPLOAD_LIMIT = 10 * MB
/** toapis takes PNG and JPEG references only (providers.md, "Checked again from outside"): WebP and GIF are refused. */
const UPLOAD_TYPES: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png' }
const UNSUPPORTED_TYPE = 'Unsupported image type. Allowed: JPEG, PNG'
const FOUR_K = TOAPIS_RATIOS.filter((r) => toapisPixelSize(r, '4k'))

/** A toapis task: its timeline is computed from `createdAt` and `durationMs`, so no timers run. */
export interface Task {
  id: string
  model: string
  prompt: string
  n: number
  createdAt: number
  durationMs: number
  mode: 'normal' | 'fails' | 'never'
  failure?: { code: string | number; message: string }
  submitStatus: 'queued' | 'pending'
  width: number
  height: number
  format: 'png' | 'jpeg'
  files: StoredFile[]
  /** A `task-shape` fault: other status words, URLs only at the top level. */
  shape?: Extract<Fault, { kind: 'task-shape' }>
}

/** Multipart body summary for `rawBodies`. */
export function summarizeMultipart(parts: MultipartPart[]): MultipartSummary {
  const fields: Record<string, string> = {}
  for (const part of parts) if (part.filename === undefined) fields[part.name] = elide(part.data.toString('utf8')) as string
  return {
    kind: 'multipart',
    parts: parts.map((p) => ({
      name: p.name,
      ...(p.filename !== undefined ? { filename: p.filename } : {}),
      ...(p.contentType !== undefined ? { contentType: p.contentType } : {}),
      size: p.data.length,
    })),
    fields,
  }
}

/** POST /toapis/v1/uploads/images (providers.md §1.5). */
export async function toapisUpload(server: FakeServerImpl, ctx: RequestContext): Promise<HandlerResult> {
  const boundary = boundaryOf(ctx.req.headers['content-type'] ?? '')
  if (!boundary) return toapisUploadError('Content-Type must be multipart/form-data')
  const parts = parseMultipart(ctx.body, boundary)
  if (!parts) return toapisUploadError('invalid multipart body')
  server.recordBody(ctx.route, summarizeMultipart(parts))
  const file = parts.find((p) => p.name === 'file' && p.filename !== undefined) ?? parts.find((p) => p.name === 'file')
  if (!file || file.data.length === 0) return toapisUploadError('file is required')
  if (file.data.length > UPLOAD_LIMIT) return toapisUploadError('Image too large. Maximum size is 10MB')
  const info = await inspectImage(file.data)
  const mime = info ? UPLOAD_TYPES[info.format] : undefined
  if (!info || !mime) return toapisUploadError(UNSUPPORTED_TYPE)
  const { id, file: stored } = server.storeUpload(Buffer.from(file.data), info, mime)
  return jsonReply(200, { success: true, message: '', data: { id, url: server.fileUrl(stored), mime_type: mime, size: file.data.length } })
}

/** POST /toapis/v1/images/generations (providers.md §1.2, §1.3). */
export async function toapisSubmit(server: FakeServerImpl, ctx: RequestContext): Promise<HandlerResult> {
  const body = parseJson(ctx.body)
  if (!isRecord(body)) return jsonReply(400, { message: 'invalid request body', success: false })
  const recorded = elide(body) as Record<string, unknown>
  server.recordBody(ctx.route, recorded)
  const bad = (message: string) => toapisError(400, 'invalid_request', message)

  const { model, prompt } = body
  if (typeof model !== 'string' || model === '') return bad('model is required')
  if (!server.models.toapis.includes(model)) return bad(`model ${show(model)} is not available (no available channel)`)
  if (typeof prompt !== 'string' || prompt.trim() === '') return bad('prompt is required')

  const refs: ImageInfo[] = []
  if (body.image_urls !== undefined) {
    const urls = body.image_urls
    if (!Array.isArray(urls)) return bad('image_urls must be an array of URL strings')
    if (urls.length === 0) return bad('image_urls must not be empty')
    if (urls.length > 16) return bad(`image_urls accepts at most 16 images, got ${urls.length}`)
    for (const [i, url] of urls.entries()) {
      if (typeof url !== 'string') return bad(`image_urls[${i}] must be a URL string, got ${show(url)}`)
      if (url.startsWith('data:')) return bad(`image_urls[${i}]: base64 and data URLs are not accepted, upload the image first`)
      const fetched = await server.resolveImageUrl(url)
      if ('error' in fetched) return bad(`image_urls[${i}]: ${fetched.error}`)
      if (!UPLOAD_TYPES[fetched.info.format]) return bad(`image_urls[${i}]: unsupported image format '${fetched.info.format}'; references must be PNG or JPEG`)
      refs.push(fetched.info)
    }
  }
  if (body.mask_url !== undefined) {
    const url = body.mask_url
    if (typeof url !== 'string') return bad('mask_url must be a URL string')
    if (url.startsWith('data:')) return bad('mask_url: base64 and data URLs are not accepted, upload the mask first')
    const first = refs[0]
    if (!first) return bad('mask_url requires image_urls')
    const fetched = await server.resolveImageUrl(url)
    if ('error' in fetched) return bad(`mask_url: ${fetched.error}`)
    const mask = fetched.info
    if (mask.format !== 'png' || !mask.hasAlpha) return bad('mask_url must be a PNG with an alpha channel')
    if (mask.width !== first.width || mask.height !== first.height) {
      return bad(`mask size ${mask.width}x${mask.height} does not match the first image (${first.width}x${first.height}); it must have the same dimensions`)
    }
  }

  const size = body.size ?? '1:1'
  if (typeof size !== 'string' || (size !== 'auto' && !isToapisRatio(size)))
    return bad(`invalid size ${show(size)}; supported: auto, ${TOAPIS_RATIOS.join(', ')}`)
  const resolution = body.resolution ?? '1k'
  if (resolution !== '1k' && resolution !== '2k' && resolution !== '4k') return bad(`invalid resolution ${show(resolution)}; supported: 1k, 2k, 4k (lowercase)`)
  const first = refs[0]
  const ratio = size === 'auto' ? nearestToapisRatio(first?.width ?? 1, first?.height ?? 1, resolution as ToapisResolution) : size
  const pixels = toapisPixelSize(ratio, resolution)
  if (!pixels) return bad(`resolution ${resolution} is not supported for size ${ratio}; 4k is only available for ${FOUR_K.join(', ')}`)
  if (body.quality !== undefined && !['low', 'medium', 'high'].includes(body.quality as string)) {
    return bad(`invalid quality ${show(body.quality)}; supported: low, medium, high`)
  }
  const n = body.n ?? 1
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > server.toapisMaxN)
    return bad(`n must be an integer from 1 to ${server.toapisMaxN}, got ${show(n)}`)
  const format = body.output_format ?? 'png'
  if (format !== 'png' && format !== 'jpeg') return bad(`invalid output_format ${show(format)}; supported: png, jpeg`)
  const compression = body.output_compression
  if (compression !== undefined && (typeof compression !== 'number' || !Number.isInteger(compression) || compression < 0 || compression > 100)) {
    return bad(`output_compression must be an integer from 0 to 100, got ${show(compression)}`)
  }
  if (body.background !== undefined && !['transparent', 'opaque', 'auto'].includes(body.background as string)) {
    return bad(`invalid background ${show(body.background)}; supported: transparent, opaque, auto`)
  }
  if (body.callback_url !== undefined) return toapisError(400, 'webhook_not_configured', 'callback_url was given but this token has no webhook configured')
  if (body.client_business_id !== undefined && typeof body.client_business_id !== 'string') return bad('client_business_id must be a string')

  const early = server.promptFault(ctx, prompt)
  if (early) return early
  const fault = ctx.fault
  if (fault?.kind === 'policy') return toapisError(422, 'content_policy_violation', '内容审核未通过 (content policy violation)')

  const now = server.now()
  const id = `tsk_img_${ulidish()}`
  const durationMs = server.sampleLatency()
  const shape = fault?.kind === 'task-shape' ? fault : undefined
  const mode = fault?.kind === 'task-fails' || shape?.fails ? 'fails' : fault?.kind === 'never-finishes' ? 'never' : 'normal'
  const finish = now + durationMs
  const expiresAt = fault?.kind === 'expired' ? finish : finish + server.resultTtlMs
  const variant = fault?.kind === 'not-image' ? 'not-image' : fault?.kind === 'wrong-size' ? 'wrong-size' : 'normal'
  const files =
    mode === 'normal'
      ? Array.from({ length: n }, (_, i) =>
          server.storeResult(
            {
              width: pixels.width,
              height: pixels.height,
              format,
              ...(format === 'jpeg' && typeof compression === 'number' ? { compression } : {}),
              seed: `${prompt}\n${i}\n${id}`,
            },
            finish,
            expiresAt,
            variant,
          ),
        )
      : []
  const task: Task = {
    id,
    model,
    prompt,
    n,
    createdAt: now,
    durationMs,
    mode,
    ...(fault?.kind === 'task-fails' ? { failure: { code: fault.code ?? 'generation_failed', message: fault.message ?? '内容审核未通过' } } : {}),
    submitStatus: server.pollStatusOnSubmit,
    width: pixels.width,
    height: pixels.height,
    format,
    files,
    ...(shape ? { shape } : {}),
  }
  server.addTask(task)
  server.accept({ route: 'toapis.submit', prompt, n, body: recorded, taskId: id })
  return jsonReply(200, {
    id,
    object: 'generation.task',
    model,
    status: task.shape?.statuses?.queued ?? task.submitStatus,
    progress: 0,
    created_at: unixSeconds(now),
    metadata: typeof body.client_business_id === 'string' ? { client_business_id: body.client_business_id } : {},
  })
}

/**
 * The poll body of a task now (providers.md §1.4). The task's duration is split into
 * `progressSteps + 1` slices: the first reports the submit status with progress 0, the others
 * `in_progress` with rising progress, then `completed` or `failed`.
 */
export function taskView(server: FakeServerImpl, task: Task): Record<string, unknown> {
  const now = server.now()
  const base = { id: task.id, object: 'generation.task', model: task.model }
  const created = unixSeconds(task.createdAt)
  const finish = task.createdAt + task.durationMs
  const words = task.shape?.statuses ?? {}
  if (task.mode !== 'never' && now >= finish) {
    if (task.mode === 'fails') {
      // A task-shape failure carries only its status word, no `error` object.
      return {
        ...base,
        status: words.failed ?? 'failed',
        created_at: created,
        completed_at: unixSeconds(finish),
        ...(task.shape ? {} : { error: task.failure ?? { code: 'generation_failed', message: 'generation failed' } }),
      }
    }
    const urls = task.files.map((f) => server.fileUrl(f))
    const expiresAt = Math.min(...task.files.map((f) => f.expiresAt))
    return {
      ...base,
      status: words.completed ?? 'completed',
      progress: 100,
      created_at: created,
      completed_at: unixSeconds(finish),
      expires_at: unixSeconds(expiresAt),
      url: urls[0],
      ...(task.shape?.urls === 'top-level' ? {} : { result: { type: 'image', data: urls.map((url) => ({ url, format: task.format })) } }),
    }
  }
  const steps = server.progressSteps
  const duration = Math.max(1, task.durationMs)
  const slice = Math.floor(((now - task.createdAt) / duration) * (steps + 1))
  if (slice < 1) return { ...base, status: words.queued ?? task.submitStatus, progress: 0, created_at: created }
  const progress = Math.min(99, Math.floor((100 * Math.min(slice, steps)) / (steps + 1)))
  return { ...base, status: words.running ?? 'in_progress', progress, created_at: created }
}

/** GET /toapis/v1/images/generations/{id} (providers.md §1.4). */
export async function toapisPoll(server: FakeServerImpl, ctx: RequestContext): Promise<HandlerResult> {
  const task = server.taskMap.get(ctx.param)
  if (!task) return jsonReply(400, { message: 'task_not_exist' })
  if (ctx.fault?.kind === 'expired') {
    const now = server.now()
    for (const file of task.files) file.expiresAt = Math.min(file.expiresAt, Math.max(now, file.availableAt))
  }
  return jsonReply(200, taskView(server, task))
}

/** GET /toapis/v1/models (providers.md §1.1). */
export async function toapisModels(server: FakeServerImpl, _ctx: RequestContext): Promise<HandlerResult> {
  return jsonReply(200, { object: 'list', data: server.models.toapis.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'toapis' })) })
}
