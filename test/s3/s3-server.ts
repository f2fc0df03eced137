// A real S3 protocol server for the tests: s3rver on 127.0.0.1, behind a small proxy that makes it
// keep S3's promise that a PUT cut short stores nothing, and that can inject faults (5xx,
// SlowDown, a dropped connection) into chosen requests.
import { readdir, rm, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { AwsClient } from 'aws4fetch'
import S3rver from 's3rver'
import { tempDir } from '../helpers.js'

/** s3rver's one account. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

/**
 * What the proxy does with one request: pass it on, answer with an S3 error, drop the connection,
 * hold it, pass it on and lose the answer (`lose-answer`: done on the server, unknown to the
 * client), or pass it on and drop the connection halfway through the answer's body (`cut-answer`).
 */
export type S3Fault = 'pass' | 'drop' | 'lose-answer' | 'cut-answer' | { status: number; code: string } | { holdMs: number }

export interface S3TestServer {
  endpoint: string
  bucket: string
  /** s3rver's storage folder. */
  dir: string
  /** Requests that reached the proxy whole, as `METHOD /path?query`. */
  requests: string[]
  /** Requests whose body was cut short (and so never reached s3rver). */
  cutShort(): number
  /** Decides, per request, whether it reaches s3rver (default: every one does). */
  inject(fault: ((method: string, url: string) => S3Fault) | undefined): void
  /** Unfinished multipart uploads s3rver holds (AbortMultipartUpload, which s3rver lacks, is done by the proxy). */
  pendingUploads(): Promise<number>
  /** Sends a signed PUT that declares the whole body but stops halfway and drops the connection: what a writer killed mid-upload sends. */
  tornPut(key: string, body: Uint8Array): Promise<void>
  close(): Promise<void>
}

export async function startS3Server(bucket = 'team'): Promise<S3TestServer> {
  const { dir, cleanup } = await tempDir('images-edit-s3-')
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket }] })
  const upstream = await s3rver.run()
  const requests: string[] = []
  let fault: ((method: string, url: string) => S3Fault) | undefined
  let cut = 0
  // s3rver streams a PUT's body straight into the object's file, so a request cut short leaves a
  // half object in the listing; S3 stores nothing then. The proxy reads each body whole first.
  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    let aborted = false
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('error', () => {
      aborted = true
      cut++
    })
    req.on('end', () => {
      if (aborted) return
      const method = req.method ?? 'GET'
      requests.push(`${method} ${req.url}`)
      const decision = fault?.(method, req.url ?? '/') ?? 'pass'
      if (decision === 'drop') return void req.socket.destroy()
      const abort = method === 'DELETE' && decision === 'pass' ? /[?&]uploadId=([0-9a-f]+)/.exec(req.url ?? '') : null
      if (abort) return void abortUpload(abort[1] as string, res)
      if (typeof decision === 'object' && 'holdMs' in decision) {
        // A slow upload: the body has arrived, the answer waits. A client gone meanwhile (killed)
        // gets nothing stored: nobody will ever learn whether it was.
        setTimeout(() => (req.socket.destroyed ? undefined : forward(req, res, Buffer.concat(chunks))), decision.holdMs)
        return
      }
      if (decision !== 'pass' && decision !== 'lose-answer' && decision !== 'cut-answer') {
        res.writeHead(decision.status, { 'content-type': 'application/xml' })
        return void res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${decision.code}</Code><Message>injected</Message></Error>`)
      }
      forward(req, res, Buffer.concat(chunks), decision === 'lose-answer', decision === 'cut-answer')
    })
  })
  // s3rver has no AbortMultipartUpload: the proxy does what S3 does, drops the upload's parts.
  const abortUpload = async (uploadId: string, res: ServerResponse) => {
    const folder = join(dir, bucket, '._S3rver_uploads', uploadId)
    if (!(await stat(folder).catch(() => undefined))) {
      res.writeHead(404, { 'content-type': 'application/xml' })
      return void res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>no such upload</Message></Error>')
    }
    await rm(folder, { recursive: true, force: true })
    res.writeHead(204)
    res.end()
  }
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, loseAnswer = false, cutAnswer = false) => {
    const upstreamRequest = request({ host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (loseAnswer) {
        answer.resume()
        return void answer.on('end', () => req.socket.destroy())
      }
      res.writeHead(answer.statusCode ?? 500, answer.headers)
      if (cutAnswer) {
        // The headers (with the full length) and the first half of the body, then the connection goes.
        const half = Math.floor(Number(answer.headers['content-length'] ?? 0) / 2)
        const parts: Buffer[] = []
        answer.on('data', (chunk: Buffer) => parts.push(chunk))
        return void answer.on('end', () => res.write(Buffer.concat(parts).subarray(0, half), () => setTimeout(() => req.socket.destroy(), 20)))
      }
      answer.pipe(res)
    })
    upstreamRequest.on('error', () => res.destroy())
    upstreamRequest.end(body)
  }
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
  const signer = new AwsClient({ ...S3_CREDENTIALS, region: 'us-east-1', service: 's3', retries: 0 })
  return {
    endpoint,
    bucket,
    dir,
    requests,
    cutShort: () => cut,
    inject(next) {
      fault = next
    },
    async pendingUploads() {
      return (await readdir(join(dir, bucket, '._S3rver_uploads')).catch(() => [] as string[])).length
    },
    async tornPut(key, body) {
      const signed = await signer.sign(`${endpoint}/${bucket}/${key}`, { method: 'PUT', body: body as Uint8Array<ArrayBuffer> })
      const headers: Record<string, string> = {}
      signed.headers.forEach((value, name) => {
        headers[name] = value
      })
      await new Promise<void>((resolve) => {
        const req = request(signed.url, { method: 'PUT', headers: { ...headers, 'content-length': String(body.byteLength) } })
        req.on('error', () => resolve())
        req.write(body.subarray(0, Math.ceil(body.byteLength / 2)), () => {
          setTimeout(() => {
            req.destroy()
            resolve()
          }, 50)
        })
      })
    },
    async close() {
      proxy.closeAllConnections()
      await new Promise<void>((resolve) => proxy.close(() => resolve()))
      await s3rver.close()
      await cleanup()
    },
  }
}
