/**
 * OpenAI POST /v1/images/edits, multipart and JSON (providers.md §3). Synchronous: answers
 * `b64_json` images after the configured latency.
 */
import { resolveRefs } from './aa.js'
import { type ImageInfo, inspectImage, NOT_AN_IMAGE, renderImage, wrongSize } from './images.js'
import { boundaryOf, type MultipartPart, parseMultipart } from './multipart.js'
import { isParamError, maskProblem, validateGenParams } from './params.js'
import { type HandlerResult, jsonReply, openaiError, openaiModerationBlocked, type Reply } from './replies.js'
import type { FakeServerImpl, RequestContext } from './server.js'
import { summarizeMultipart } from './toapis.js'
import { elide, isRecord, parseJson, show, unixSeconds } from './util.js'

const MB = 1024 * 1024
const IMAGE_LIMIT = 50 * MB
const MASK_LIMIT = 4 * MB
const COMMON_FIELDS = [
  'model',
  'prompt',
  'n',
  'size',
  'quality',
  'output_format',
  'output_compression',
  'background',
  'input_fidelity',
  'user',
  'stream',
  'partial_images',
]
/** Multipart fields (CreateImageEditRequest). No `moderation`: the real service rejects it here. */
const MULTIPART_FIELDS = new Set([...COMMON_FIELDS, 'response_format'])
/** JSON fields (EditImageBodyJsonParam). */
const JSON_FIELDS = new Set([...COMMON_FIELDS, 'images', 'mask', 'moderation'])

type Parsed = { fields: Record<string, unknown>; recorded: Record<string, unknown>; infos: ImageInfo[]; multipart: boolean } | Reply

async function parseMultipartEdit(server: FakeServerImpl, ctx: RequestContext, boundary: string): Promise<Parsed> {
  const rid = ctx.requestId
  const parts = parseMultipart(ctx.body, boundary)
  if (!parts) return openaiError(400, 'Could not parse multipart form', rid)
  const summary = summarizeMultipart(parts)
  server.recordBody(ctx.route, summary)
  const fields: Record<string, unknown> = {}
  const images: MultipartPart[] = []
  let mask: MultipartPart | undefined
  for (const part of parts) {
    if (part.name === 'image' || part.name === 'image[]' || part.name === 'mask') {
      if (part.filename === undefined)
        return openaiError(
          400,
          `Invalid type for '${part.name}': expected a file, but got a string instead.`,
          rid,
          'invalid_request_error',
          part.name,
          'invalid_type',
        )
      if (part.name === 'mask') mask = part
      else images.push(part)
    } else if (MULTIPART_FIELDS.has(part.name)) {
      fields[part.name] = part.data.toString('utf8')
    } else {
      return openaiError(400, `Unknown parameter: '${part.name}'.`, rid, 'invalid_request_error', part.name, 'unknown_parameter')
    }
  }
  if (images.length === 0) return openaiError(400, "Missing required parameter: 'image'.", rid, 'invalid_request_error', 'image', 'missing_required_parameter')
  if (images.length > 16)
    return openaiError(
      400,
      `Invalid 'image': array too long. Expected an array with maximum length 16, but got an array with length ${images.length} instead.`,
      rid,
      'invalid_request_error',
      'image',
      'array_above_max_length',
    )
  const infos: ImageInfo[] = []
  for (const image of images) {
    if (image.data.length >= IMAGE_LIMIT)
      return openaiError(
        400,
        `Invalid file '${image.name}': file too large. Each image must be smaller than 50MB.`,
        rid,
        'invalid_request_error',
        image.name,
        'invalid_value',
      )
    const info = await inspectImage(image.data)
    if (!info || !['png', 'jpeg', 'webp'].includes(info.format)) {
      const mimetype = image.contentType ?? 'application/octet-stream'
      return openaiError(
        400,
        `Invalid file '${image.name}': unsupported mimetype ('${mimetype}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`,
        rid,
        'invalid_request_error',
        image.name,
        'unsupported_file',
      )
    }
    infos.push(info)
  }
  if (mask) {
    if (mask.data.length >= MASK_LIMIT)
      return openaiError(400, "Invalid file 'mask': file too large. The mask must be smaller than 4MB.", rid, 'invalid_request_error', 'mask', 'invalid_value')
    const info = await inspectImage(mask.data)
    const problem = info ? maskProblem(info, infos[0]) : 'mask is not a valid image'
    if (problem) return openaiError(400, `Invalid mask: ${problem}.`, rid, 'invalid_request_error', 'mask', 'invalid_value')
  }
  return { fields, recorded: { ...summary.fields, parts: summary.parts }, infos, multipart: true }
}

async function parseJsonEdit(server: FakeServerImpl, ctx: RequestContext): Promise<Parsed> {
  const rid = ctx.requestId
  const body = parseJson(ctx.body)
  if (!isRecord(body)) {
    return openaiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)", rid)
  }
  const recorded = elide(body) as Record<string, unknown>
  server.recordBody(ctx.route, recorded)
  for (const key of Object.keys(body)) {
    if (!JSON_FIELDS.has(key)) return openaiError(400, `Unknown parameter: '${key}'.`, rid, 'invalid_request_error', key, 'unknown_parameter')
  }
  const refs = await resolveRefs(server, body.images, body.mask, 'images', true)
  if ('error' in refs) return openaiError(400, refs.error, rid, 'invalid_request_error', refs.param, 'invalid_value')
  return { fields: body, recorded, infos: refs.infos, multipart: false }
}

export async function openaiEdit(server: FakeServerImpl, ctx: RequestContext): Promise<HandlerResult> {
  const rid = ctx.requestId
  const contentType = ctx.req.headers['content-type'] ?? ''
  const boundary = boundaryOf(contentType)
  let parsed: Parsed
  if (boundary) parsed = await parseMultipartEdit(server, ctx, boundary)
  else if (/^application\/json\s*(;|$)/i.test(contentType)) parsed = await parseJsonEdit(server, ctx)
  else return openaiError(400, `Invalid Content-Type header (${contentType || 'none'}), expected multipart/form-data or application/json.`, rid)
  if (!('fields' in parsed)) return parsed
  const { fields, recorded, infos, multipart } = parsed

  const model = fields.model ?? 'gpt-image-1.5'
  if (typeof model !== 'string' || !server.models.openai.includes(model)) {
    return openaiError(
      400,
      `Invalid value: ${show(model)}. Supported values are: ${server.models.openai.map((m) => `'${m}'`).join(', ')}.`,
      rid,
      'invalid_request_error',
      'model',
      'invalid_value',
    )
  }
  const prompt = fields.prompt
  if (prompt === undefined || prompt === null)
    return openaiError(400, "Missing required parameter: 'prompt'.", rid, 'invalid_request_error', 'prompt', 'missing_required_parameter')
  if (typeof prompt !== 'string' || prompt.length < 1 || prompt.length > 32000) {
    return openaiError(400, "Invalid 'prompt': expected a string of 1 to 32000 characters.", rid, 'invalid_request_error', 'prompt', 'invalid_value')
  }
  if (fields.response_format !== undefined) {
    return openaiError(
      400,
      "Unknown parameter: 'response_format'. GPT image models always return base64-encoded images.",
      rid,
      'invalid_request_error',
      'response_format',
      'unknown_parameter',
    )
  }
  const params = validateGenParams(fields, { strings: multipart, moderation: !multipart })
  if (isParamError(params)) return openaiError(400, params.message, rid, 'invalid_request_error', params.param, params.code)

  const early = server.promptFault(ctx, prompt)
  if (early) return early
  const fault = ctx.fault
  if (fault?.kind === 'policy') return openaiModerationBlocked(rid)

  server.accept({ route: 'openai.edit', prompt, n: params.n, body: recorded })
  if (fault?.kind === 'never-finishes') return 'hold'
  const started = server.now()
  await server.sleep(server.sampleLatency())
  if (server.isClosed()) return 'hold'
  if (fault?.kind === 'task-fails') {
    return openaiError(
      500,
      fault.message ?? 'The server had an error while processing your request. Sorry about that!',
      rid,
      'server_error',
      null,
      fault.code === undefined ? null : String(fault.code),
    )
  }

  const size = fault?.kind === 'wrong-size' ? wrongSize(params.width, params.height) : { width: params.width, height: params.height }
  const images = await Promise.all(
    Array.from({ length: params.n }, (_, i) =>
      fault?.kind === 'not-image'
        ? Promise.resolve(NOT_AN_IMAGE)
        : renderImage({
            ...size,
            format: params.format,
            ...(params.compression !== undefined ? { compression: params.compression } : {}),
            seed: `${prompt}\n${i}\n${rid}`,
            transparent: params.background === 'transparent',
          }),
    ),
  )
  const textTokens = Math.ceil(prompt.length / 4)
  const imageTokens = 256 * infos.length
  const outputTokens = 1056 * params.n
  return jsonReply(
    200,
    {
      created: unixSeconds(server.now()),
      data: images.map((bytes) => ({ b64_json: bytes.toString('base64') })),
      background: params.background === 'transparent' ? 'transparent' : 'opaque',
      output_format: params.format,
      size: `${params.width}x${params.height}`,
      quality: params.quality === 'auto' ? 'medium' : params.quality,
      usage: {
        input_tokens: textTokens + imageTokens,
        output_tokens: outputTokens,
        total_tokens: textTokens + imageTokens + outputTokens,
        input_tokens_details: { text_tokens: textTokens, image_tokens: imageTokens },
        output_tokens_details: { image_tokens: outputTokens, text_tokens: 0 },
      },
    },
    { 'x-request-id': rid, 'openai-processing-ms': String(server.now() - started), 'openai-version': '2020-10-01' },
  )
}
