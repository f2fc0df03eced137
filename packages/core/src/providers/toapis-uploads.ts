// Uploading local inputs to toapis: the upload call, and the bytes re-encoded to fit its limits.
import { openAsBlob } from 'node:fs'
import { callJson, ProviderError, snippet } from './http.js'
import type { EditContext, InputImage } from './provider.js'
import { mapToapisError } from './toapis-errors.js'
import type { ToapisClient } from './toapis-requests.js'

/** toapis refuses uploads over 10 MB (providers.md §1.5). */
export const TOAPIS_UPLOAD_LIMIT = 10 * 1024 * 1024

/** Uploads one local input (a ref or the mask), or answers the URL an earlier upload of the same bytes got. */
export async function uploadInput(
  client: ToapisClient,
  input: Extract<InputImage, { kind: 'file' }>,
  role: 'ref' | 'mask',
  context: EditContext,
): Promise<string> {
  const { config, http, auth, timeout } = client
  const cached = await context.uploads?.get('toapis', input.sha256)
  if (cached) return cached
  context.onProgress({ stage: 'uploading' })
  const { FormData } = await import('undici')
  const form = new FormData()
  const file = await uploadFile(input, role)
  form.append('file', file.blob, file.name)
  form.append('purpose', 'generation')
  const response = await callJson(http, {
    stage: 'upload',
    method: 'POST',
    url: `${config.baseUrl}/uploads/images`,
    headers: auth,
    body: form,
    signal: context.signal,
    timeoutMs: timeout(120_000),
    maxBytes: 1024 * 1024,
    mapError: mapToapisError,
  })
  const body = response.body as { success?: boolean; message?: string; data?: { url?: unknown } } | undefined
  // Check `success` and `data.url`, not only the status (providers.md §1.5).
  if (body?.success !== true || typeof body.data?.url !== 'string') {
    throw new ProviderError(`toapis upload failed: ${body?.message ? snippet(String(body.message), http.secrets) : 'no URL in the answer'}`, {
      provider: 'toapis',
      stage: 'upload',
      status: response.status,
    })
  }
  await context.uploads?.put('toapis', input.sha256, body.data.url)
  return body.data.url
}

/** Formats toapis takes as references (providers.md, "Checked again from outside"). */
const TOAPIS_REF_FORMATS: readonly string[] = ['png', 'jpeg']

/**
 * The bytes uploaded for one input. toapis takes PNG or JPEG references of at most 10 MB: a WebP
 * (or any other format) ref is re-encoded to PNG — lossless, alpha kept — and a ref over the
 * limit to JPEG. The mask is sent as it is (PNG with alpha; validation keeps it under the limit).
 */
async function uploadFile(input: Extract<InputImage, { kind: 'file' }>, role: 'ref' | 'mask'): Promise<{ blob: Blob; name: string }> {
  const fits = input.bytes <= TOAPIS_UPLOAD_LIMIT
  if (role === 'mask' || (fits && TOAPIS_REF_FORMATS.includes(input.format))) {
    return { blob: await openAsBlob(input.path, { type: `image/${input.format}` }), name: `${role}.${input.format === 'jpeg' ? 'jpg' : input.format}` }
  }
  if (!TOAPIS_REF_FORMATS.includes(input.format)) {
    const png = await toPng(input.path)
    if (png.length <= TOAPIS_UPLOAD_LIMIT) return { blob: new Blob([new Uint8Array(png)], { type: 'image/png' }), name: 'ref.png' }
  }
  // References may be 50 MB by URL but uploads stop at 10 MB: re-encode to JPEG to fit.
  const jpeg = await shrinkToJpeg(input.path, TOAPIS_UPLOAD_LIMIT)
  return { blob: new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' }), name: 'ref.jpg' }
}

/** A lossless PNG of an image: the same pixel grid (a mask still matches it), metadata kept. */
async function toPng(path: string): Promise<Buffer> {
  const { default: sharp } = await import('sharp')
  return sharp(path).keepMetadata().png().toBuffer()
}

async function shrinkToJpeg(path: string, limit: number): Promise<Buffer> {
  const { default: sharp } = await import('sharp')
  for (const quality of [90, 80, 70, 60, 50]) {
    // No Huffman optimisation: it holds every coefficient for a second pass (~110 MiB on a 17 MP photo).
    const bytes = await sharp(path).rotate().flatten({ background: '#ffffff' }).jpeg({ quality, optimiseCoding: false }).toBuffer()
    if (bytes.length <= limit) return bytes
  }
  // Still too big: scale down until it fits.
  const meta = await sharp(path).metadata()
  let width = Math.round((meta.width ?? 4096) * 0.75)
  for (;;) {
    const bytes = await sharp(path).rotate().flatten({ background: '#ffffff' }).resize({ width }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer()
    if (bytes.length <= limit || width < 256) return bytes
    width = Math.round(width * 0.75)
  }
}
