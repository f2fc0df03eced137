/**
 * A small multipart/form-data parser over a fully read body. The server already holds the whole
 * body in memory (it must measure and decode every file anyway), so a streaming parser such as
 * busboy would add a dependency without saving anything.
 */

export interface MultipartPart {
  name: string
  filename?: string
  contentType?: string
  data: Buffer
}

/** The boundary of a `multipart/form-data` content type, or undefined. */
export function boundaryOf(contentType: string): string | undefined {
  if (!/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  return match?.[1] ?? match?.[2]
}

/** Splits a multipart body into parts; undefined when it is malformed. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] | undefined {
  const delimiter = Buffer.from(`--${boundary}`)
  const next = Buffer.from(`\r\n--${boundary}`)
  const parts: MultipartPart[] = []
  let pos = body.indexOf(delimiter)
  if (pos < 0) return undefined
  for (;;) {
    pos += delimiter.length
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) return undefined
    pos += 2
    let headerText = ''
    let dataStart: number
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      dataStart = pos + 2
    } else {
      const headerEnd = body.indexOf('\r\n\r\n', pos)
      if (headerEnd < 0) return undefined
      headerText = body.subarray(pos, headerEnd).toString('utf8')
      dataStart = headerEnd + 4
    }
    const end = body.indexOf(next, dataStart)
    if (end < 0) return undefined
    const headers = new Map<string, string>()
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
    }
    const disposition = headers.get('content-disposition') ?? ''
    const name = /(?:^|;)\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? /(?:^|;)\s*name=([^;\s]+)/i.exec(disposition)?.[1]
    if (name !== undefined) {
      const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1] ?? /;\s*filename=([^;\s]+)/i.exec(disposition)?.[1]
      const contentType = headers.get('content-type')
      parts.push({
        name,
        ...(filename !== undefined ? { filename } : {}),
        ...(contentType !== undefined ? { contentType } : {}),
        data: body.subarray(dataStart, end),
      })
    }
    pos = end + 2
  }
}
