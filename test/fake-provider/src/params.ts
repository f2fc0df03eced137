import type { ImageFormat, ImageInfo } from './images.js'
import { show, toInt } from './util.js'

/** The OpenAI-shaped generation parameters shared by aa and openai (providers.md §2, §3.2, §3.3). */
export interface GenParams {
  n: number
  size: string
  width: number
  height: number
  quality: string
  format: ImageFormat
  compression?: number
  background: 'transparent' | 'opaque' | 'auto'
}

export interface ParamError {
  message: string
  param: string
  code: string
}

export const GPT_SIZES = ['auto', '1024x1024', '1536x1024', '1024x1536'] as const
const QUALITIES = ['low', 'medium', 'high', 'auto']
const FORMATS = ['png', 'jpeg', 'webp']
const BACKGROUNDS = ['transparent', 'opaque', 'auto']

function oneOf(value: unknown, param: string, allowed: readonly string[]): ParamError | undefined {
  if (typeof value === 'string' && allowed.includes(value)) return undefined
  return { message: `Invalid value: ${show(value)}. Supported values are: ${allowed.map((a) => `'${a}'`).join(', ')}.`, param, code: 'invalid_value' }
}

function intIn(value: unknown, param: string, min: number, max: number, strings: boolean): ParamError | number {
  const parsed = strings || typeof value === 'number' ? toInt(value) : undefined
  if (parsed === undefined) return { message: `Invalid type for '${param}': expected an integer, but got ${show(value)} instead.`, param, code: 'invalid_type' }
  if (parsed < min)
    return {
      message: `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${parsed} instead.`,
      param,
      code: 'integer_below_min_value',
    }
  if (parsed > max)
    return {
      message: `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${parsed} instead.`,
      param,
      code: 'integer_above_max_value',
    }
  return parsed
}

function given(body: Record<string, unknown>, key: string): unknown {
  const value = body[key]
  return value === null ? undefined : value
}

/**
 * Validates n, size, quality, output_format, output_compression, background, input_fidelity,
 * moderation, partial_images, stream and user. `strings`: values come from multipart text parts.
 */
export function validateGenParams(body: Record<string, unknown>, options: { strings: boolean; moderation: boolean }): GenParams | ParamError {
  const { strings } = options
  let n = 1
  if (given(body, 'n') !== undefined) {
    const parsed = intIn(body.n, 'n', 1, 10, strings)
    if (typeof parsed !== 'number') return parsed
    n = parsed
  }
  const size = given(body, 'size') ?? 'auto'
  const sizeError = oneOf(size, 'size', GPT_SIZES)
  if (sizeError) return sizeError
  const quality = given(body, 'quality') ?? 'auto'
  const qualityError = oneOf(quality, 'quality', QUALITIES)
  if (qualityError) return qualityError
  const format = given(body, 'output_format') ?? 'png'
  const formatError = oneOf(format, 'output_format', FORMATS)
  if (formatError) return formatError
  let compression: number | undefined
  if (given(body, 'output_compression') !== undefined) {
    const parsed = intIn(body.output_compression, 'output_compression', 0, 100, strings)
    if (typeof parsed !== 'number') return parsed
    compression = parsed
  }
  const background = given(body, 'background') ?? 'auto'
  const backgroundError = oneOf(background, 'background', BACKGROUNDS)
  if (backgroundError) return backgroundError
  if (background === 'transparent' && format === 'jpeg') {
    return { message: "Transparent background requires output_format 'png' or 'webp'.", param: 'background', code: 'invalid_value' }
  }
  if (given(body, 'input_fidelity') !== undefined) {
    const error = oneOf(body.input_fidelity, 'input_fidelity', ['high', 'low'])
    if (error) return error
  }
  if (given(body, 'moderation') !== undefined) {
    if (!options.moderation) return { message: "Unknown parameter: 'moderation'.", param: 'moderation', code: 'unknown_parameter' }
    const error = oneOf(body.moderation, 'moderation', ['low', 'auto'])
    if (error) return error
  }
  if (given(body, 'partial_images') !== undefined) {
    const parsed = intIn(body.partial_images, 'partial_images', 0, 3, strings)
    if (typeof parsed !== 'number') return parsed
  }
  const stream = given(body, 'stream')
  if (stream !== undefined && stream !== false && stream !== 'false') {
    if (stream === true || stream === 'true')
      return { message: 'stream=true is not supported by the fake provider server.', param: 'stream', code: 'invalid_value' }
    return { message: `Invalid type for 'stream': expected a boolean, but got ${show(stream)} instead.`, param: 'stream', code: 'invalid_type' }
  }
  if (given(body, 'user') !== undefined && typeof body.user !== 'string') {
    return { message: `Invalid type for 'user': expected a string, but got ${show(body.user)} instead.`, param: 'user', code: 'invalid_type' }
  }
  const [width, height] = (size === 'auto' ? '1024x1024' : (size as string)).split('x').map(Number)
  return {
    n,
    size: size as string,
    width: width ?? 1024,
    height: height ?? 1024,
    quality: quality as string,
    format: format as ImageFormat,
    ...(compression !== undefined ? { compression } : {}),
    background: background as GenParams['background'],
  }
}

export function isParamError(value: GenParams | ParamError): value is ParamError {
  return 'param' in value
}

/** Why `mask` cannot be used with `first`, or undefined when it can (PNG with alpha, same size). */
export function maskProblem(mask: ImageInfo, first: ImageInfo | undefined): string | undefined {
  if (mask.format !== 'png' || !mask.hasAlpha) return `mask must be a PNG with an alpha channel (got ${mask.format}${mask.hasAlpha ? '' : ' without alpha'})`
  if (first && (first.width !== mask.width || first.height !== mask.height)) {
    return `mask size ${mask.width}x${mask.height} does not match the first image (${first.width}x${first.height}); they must have the same dimensions`
  }
  return undefined
}
