/**
 * A small toapis-protocol server on 127.0.0.1 whose answers a test scripts: what each poll says,
 * what each download returns. It speaks just enough of the protocol (upload, submit, poll, files)
 * for the real CLI, counts submits, and never touches the network.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One scripted HTTP answer. */
export interface Answer {
  status?: number
  headers?: Record<string, string>
  /** JSON value, or raw bytes / text. */
  body?: unknown
  /** Answer only after this long (a paid call the service is still working on). */
  delayMs?: number
}

/** What the test scripts. Each function gets the running count (1-based) of that route. */
export interface HostileScript {
  /** The submit's answer; default `{id: 'tsk_<n>', status: 'queued'}`. */
  submit?: (count: number, body: Record<string, unknown>) => Answer
  /** A poll's answer for a task id; default completed with one file URL per image asked. */
  poll?: (count: number, taskId: string, server: HostileToapis) => Answer
  /** A file download; default the bytes registered with {@link HostileToapis.file}. */
  download?: (count: number, name: string, server: HostileToapis) => Answer | undefined
}

export class HostileToapis {
  readonly counts = { upload: 0, submit: 0, poll: 0, download: 0 }
  readonly submits: Record<string, unknown>[] = []
  readonly downloads: string[] = []
  readonly files = new Map<string, Uint8Array>()
  url = ''

  private readonly server = createServer((req, res) => {
    void this.handle(req, res).catch(() => res.destroy())
  })

  constructor(private readonly script: HostileScript) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  /** The base URL the manifest's toapis provider points at. */
  get baseUrl(): string {
    return `${this.url}/v1`
  }

  /** Registers a downloadable file and returns its URL. */
  file(name: string, bytes: Uint8Array): string {
    this.files.set(name, bytes)
    return `${this.url}/files/${name}`
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const path = req.url ?? ''
    if (req.method === 'POST' && path === '/v1/uploads/images') {
      this.counts.upload++
      return send(res, { body: { success: true, message: '', data: { url: `${this.url}/uploaded/${this.counts.upload}.png` } } })
    }
    if (req.method === 'POST' && path === '/v1/images/generations') {
      this.counts.submit++
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
      this.submits.push(body)
      return send(res, this.script.submit?.(this.counts.submit, body) ?? { body: { id: `tsk_${this.counts.submit}`, status: 'queued' } })
    }
    const poll = /^\/v1\/images\/generations\/([^/?]+)$/.exec(path)
    if (req.method === 'GET' && poll?.[1]) {
      this.counts.poll++
      const taskId = decodeURIComponent(poll[1])
      return send(res, this.script.poll?.(this.counts.poll, taskId, this) ?? { status: 404, body: { error: { code: 'task_not_found', message: 'no script' } } })
    }
    const file = /^\/files\/([^/?]+)/.exec(path)
    if (req.method === 'GET' && file?.[1]) {
      this.counts.download++
      this.downloads.push(file[1])
      const scripted = this.script.download?.(this.counts.download, file[1], this)
      if (scripted) return send(res, scripted)
      const bytes = this.files.get(file[1])
      return bytes ? send(res, { headers: { 'content-type': 'image/png' }, body: bytes }) : send(res, { status: 404, body: 'not found' })
    }
    send(res, { status: 404, body: { error: { code: 'not_found', message: path } } })
  }
}

function send(res: ServerResponse, answer: Answer): void {
  if (answer.delayMs) {
    const timer = setTimeout(() => send(res, { ...answer, delayMs: 0 }), answer.delayMs)
    res.on('close', () => clearTimeout(timer))
    return
  }
  if (res.destroyed) return
  const raw =
    answer.body instanceof Uint8Array
      ? Buffer.from(answer.body)
      : typeof answer.body === 'string'
        ? Buffer.from(answer.body)
        : Buffer.from(JSON.stringify(answer.body ?? {}))
  const json = !(answer.body instanceof Uint8Array) && typeof answer.body !== 'string'
  res.writeHead(answer.status ?? 200, { 'content-length': String(raw.length), ...(json ? { 'content-type': 'application/json' } : {}), ...answer.headers })
  res.end(raw)
}

/** A completed toapis task answer naming these URLs. */
export function completed(urls: readonly string[], extra: Record<string, unknown> = {}): Answer {
  return { body: { id: 'tsk', status: 'completed', progress: 100, result: { data: urls.map((url) => ({ url })) }, ...extra } }
}

/** Starts a hostile server; close it in the test's cleanup. */
export function startHostile(script: HostileScript): Promise<HostileToapis> {
  return new HostileToapis(script).start()
}
