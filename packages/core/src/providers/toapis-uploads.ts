// Uploading local inputs to toapis: the upload call, and the bytes re-encoded to fit its limits.
import { openAsBlob } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
  // The temporary re-encode (if any) is removed once the request has streamed it, sent or not.
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
  }).finally(file.cleanup)
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

/** The bytes uploaded for one input, and what to remove once they are sent. */
interface UploadFile {
  blob: Blob
  name: string
  cleanup: () => Promise<void>
}

/**
 * The bytes uploaded for one input. toapis takes PNG or JPEG references of at most 10 MB: a WebP
 * (or any other format) ref is re-encoded to PNG — lossless, alpha kept — and a ref over the
 * limit to JPEG. The mask is sent as it is (PNG with alpha; validation keeps it under the limit).
 * Re-encodes run in the pixel child (at most PIXEL_SLOTS at once, whatever the job concurrency)
 * and land in a temporary file that the upload streams from: the engine never holds the pixels
 * or the encoded bytes.
 */
export async function uploadFile(input: Extract<InputImage, { kind: 'file' }>, role: 'ref' | 'mask'): Promise<UploadFile> {
  const fits = input.bytes <= TOAPIS_UPLOAD_LIMIT
  if (role === 'mask' || (fits && TOAPIS_REF_FORMATS.includes(input.format))) {
    const blob = await openAsBlob(input.path, { type: `image/${input.format}` })
    return { blob, name: `${role}.${input.format === 'jpeg' ? 'jpg' : input.format}`, cleanup: async () => {} }
  }
  const { pixelTask } = await import('../pixels/pixel-child.js')
  const dir = await mkdtemp(join(tmpdir(), 'images-edit-upload-'))
  const cleanup = () => rm(dir, { recursive: true, force: true })
  try {
    if (!TOAPIS_REF_FORMATS.includes(input.format)) {
      const out = join(dir, 'ref.png')
      const png = await pixelTask<{ size: number }>({ op: 'png', path: input.path, out })
      if (png.size <= TOAPIS_UPLOAD_LIMIT) return { blob: await openAsBlob(out, { type: 'image/png' }), name: 'ref.png', cleanup }
    }
    // References may be 50 MB by URL but uploads stop at 10 MB: re-encode to JPEG to fit.
    const out = join(dir, 'ref.jpg')
    await pixelTask<{ size: number }>({ op: 'jpeg', path: input.path, out, limit: TOAPIS_UPLOAD_LIMIT })
    return { blob: await openAsBlob(out, { type: 'image/jpeg' }), name: 'ref.jpg', cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}
