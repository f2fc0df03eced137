// The small pieces of the S3 wire format the client needs: XML answers, MD5s, error codes, and
// what a message may show of a URL.
import { createHash } from 'node:crypto'
import { XMLParser } from 'fast-xml-parser'

export const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'Contents' })

export function parseXml(body: Uint8Array): Record<string, Record<string, unknown> | undefined> {
  return parser.parse(new TextDecoder().decode(body)) ?? {}
}

export function md5Of(bytes: Uint8Array, encoding: 'hex' | 'base64'): string {
  return createHash('md5').update(bytes).digest(encoding)
}

export function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

export function errorCode(text: string): string | undefined {
  try {
    const code = parser.parse(text)?.Error?.Code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

export function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  if ((error as Error).name === 'TimeoutError') return 'timed out'
  return cause?.code ?? cause?.message ?? (error as Error).message
}

/** URLs in messages never carry a query (a continuation token, a presigned signature). */
export function redactQuery(url: string): string {
  return url.split('?')[0] as string
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The response's body, locked at once and holding on to the response. undici cancels the body of
 * a Response garbage-collected before its body was locked: a body handed on without its response
 * then reads as empty (seen in B15, one object in a hundred, as a sha256 mismatch).
 */
export function lockedBody(response: Response): AsyncIterable<Uint8Array> {
  // Node's web streams are async iterables (the DOM typings do not say so); taking the iterator locks the stream.
  const iterator = (response.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  return { response, [Symbol.asyncIterator]: () => iterator } as AsyncIterable<Uint8Array>
}
