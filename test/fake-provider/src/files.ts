/**
 * GET/HEAD /files/<name>: uploaded inputs and results. Error bodies imitate object storage
 * (S3/OSS/TOS-style XML); the exact bodies of files.toapis.com are not documented.
 */
import { inspectImage, NOT_AN_IMAGE, renderImage, wrongSize } from './images.js'
import { type HandlerResult, xmlError } from './replies.js'
import type { FakeServerImpl, RequestContext } from './server.js'

export async function filesDownload(server: FakeServerImpl, ctx: RequestContext): Promise<HandlerResult> {
  const file = server.files.get(ctx.param)
  const now = server.now()
  if (!file || now < file.availableAt) return xmlError(404, 'NoSuchKey', 'The specified key does not exist.', ctx.requestId)
  if (ctx.fault?.kind === 'expired' || now >= file.expiresAt) return xmlError(403, 'AccessDenied', 'Request has expired', ctx.requestId)
  let bytes: Buffer
  if (ctx.fault?.kind === 'not-image') {
    bytes = NOT_AN_IMAGE
  } else if (ctx.fault?.kind === 'wrong-size') {
    const info = file.spec ?? (await inspectImage(await server.fileBytes(file)))
    const size = wrongSize(info?.width ?? 64, info?.height ?? 64)
    bytes = await renderImage({ ...size, format: file.spec?.format ?? 'png', seed: file.name })
  } else {
    bytes = await server.fileBytes(file)
  }
  return {
    status: 200,
    headers: {
      'content-type': file.mime,
      'cache-control': 'max-age=86400',
      'last-modified': new Date(file.availableAt || now).toUTCString(),
      'x-request-id': ctx.requestId,
    },
    body: bytes,
  }
}
