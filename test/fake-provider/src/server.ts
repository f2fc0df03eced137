import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { aaGenerate } from './aa.js'
import { filesDownload } from './files.js'
import { extOf, type ImageInfo, inspectImage, NOT_AN_IMAGE, type RenderSpec, renderImage, withMetadataText, wrongSize } from './images.js'
import { openaiEdit } from './openai.js'
import {
  aaError,
  type HandlerResult,
  jsonReply,
  openaiError,
  protocolOf,
  type Reply,
  statusFaultReply,
  toapisError,
  toapisUnauthorized,
  xmlError,
} from './replies.js'
import { type Task, taskView, toapisModels, toapisPoll, toapisSubmit, toapisUpload } from './toapis.js'
import {
  type FakeProviderServer,
  type FakeServerOptions,
  type Fault,
  type FaultKind,
  type InFlightStats,
  type Latency,
  type RawBodyEntry,
  type RequestLogEntry,
  ROUTES,
  type RouteId,
  type Submission,
  type SubmissionMatch,
  type TaskInfo,
} from './types.js'
import { hex, prng } from './util.js'

/** Everything a route handler gets about one request. */
export interface RequestContext {
  req: IncomingMessage
  method: string
  url: URL
  route: RouteId
  /** Path parameter: task id (toapis.poll) or file name (files.download). */
  param: string
  body: Buffer
  /** The fault applied to this request; a handler may set it from `faultOnPrompt`. */
  fault: Fault | undefined
  requestId: string
}

/** A file served under `/files/`: an uploaded input, or a result rendered on first download. */
export interface StoredFile {
  name: string
  kind: 'upload' | 'result'
  mime: string
  /** Not downloadable before this time (a result exists once its task completes). */
  availableAt: number
  /** Downloads at or after this time get 403 "Request has expired". */
  expiresAt: number
  variant: 'normal' | 'not-image' | 'wrong-size'
  spec?: RenderSpec
  info?: ImageInfo
  bytes?: Buffer
  pending?: Promise<Buffer>
}

type Handler = (server: FakeServerImpl, ctx: RequestContext) => Promise<HandlerResult>

const handlers: Record<RouteId, Handler> = {
  'toapis.upload': toapisUpload,
  'toapis.submit': toapisSubmit,
  'toapis.poll': toapisPoll,
  'toapis.models': toapisModels,
  'aa.generate': aaGenerate,
  'openai.edit': openaiEdit,
  'files.download': filesDownload,
}

const GENERIC_FAULTS: readonly FaultKind[] = ['status', 'reset', 'stall', 'malformed-json', 'truncated', 'unbounded']
const ROUTE_FAULTS: Record<RouteId, readonly FaultKind[]> = {
  'toapis.upload': [],
  'toapis.submit': ['task-fails', 'never-finishes', 'not-image', 'wrong-size', 'expired', 'policy', 'task-shape'],
  'toapis.poll': ['expired'],
  'toapis.models': [],
  'aa.generate': ['task-fails', 'never-finishes', 'not-image', 'wrong-size', 'expired', 'policy', 'aa-early', 'code-as-string'],
  'openai.edit': ['task-fails', 'never-finishes', 'not-image', 'wrong-size', 'policy'],
  'files.download': ['not-image', 'wrong-size', 'expired'],
}
const SUBMIT_ROUTES: readonly RouteId[] = ['toapis.submit', 'aa.generate', 'openai.edit']

export const DEFAULT_MODELS = {
  toapis: ['gpt-image-1.5-official', 'gpt-image-2-official'],
  aa: ['gpt-image-1.5'],
  openai: ['gpt-image-1.5', 'gpt-image-1', 'gpt-image-1-mini', 'chatgpt-image-latest', 'gpt-image-2'],
}

function matchRoute(method: string, path: string): { route: RouteId; param: string } | undefined {
  if (method === 'POST') {
    if (path === '/toapis/v1/uploads/images') return { route: 'toapis.upload', param: '' }
    if (path === '/toapis/v1/images/generations') return { route: 'toapis.submit', param: '' }
    if (path === '/aa/api/v1/image/generation') return { route: 'aa.generate', param: '' }
    if (path === '/openai/v1/images/edits') return { route: 'openai.edit', param: '' }
    return undefined
  }
  if (method === 'GET') {
    if (path === '/toapis/v1/models') return { route: 'toapis.models', param: '' }
    const poll = /^\/toapis\/v1\/images\/generations\/([^/]+)$/.exec(path)
    if (poll?.[1]) return { route: 'toapis.poll', param: decodeURIComponent(poll[1]) }
  }
  if (method === 'GET' || method === 'HEAD') {
    const file = /^\/files\/([A-Za-z0-9_.-]+)$/.exec(path)
    if (file?.[1]) return { route: 'files.download', param: file[1] }
  }
  return undefined
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    result[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return result
}

/** Reads the whole body; undefined when it exceeds `limit` (the rest is drained). Rejects when the client goes away. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) chunks.length = 0
      else chunks.push(chunk)
    })
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)))
    req.on('error', reject)
    req.on('close', () => {
      if (!req.complete) reject(new Error('client went away'))
    })
  })
}

function send(res: ServerResponse, reply: Reply, head: boolean): void {
  if (res.destroyed || res.headersSent) return
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(reply.body.length) })
  res.end(head ? undefined : reply.body)
}

function malformed(reply: Reply): Reply {
  const isJson = /json/i.test(reply.headers['content-type'] ?? '')
  const text = isJson ? reply.body.toString('utf8') : '{"success":true,"data":{"url":"'
  const cut = isJson ? text.slice(0, Math.max(1, Math.floor(text.length / 2))) : text
  return { status: reply.status, headers: { ...reply.headers, 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(cut) }
}

function authReply(route: RouteId, requestId: string, hasKey: boolean): Reply {
  switch (protocolOf(route)) {
    case 'toapis':
      return toapisUnauthorized()
    case 'aa':
      return aaError(401, hasKey ? 'invalid api key' : 'missing api key: send Authorization: Bearer <key>', requestId)
    default:
      return hasKey
        ? openaiError(401, 'Incorrect API key provided.', requestId, 'invalid_request_error', null, 'invalid_api_key')
        : openaiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.", requestId)
  }
}

function internalError(route: RouteId, requestId: string, message: string): Reply {
  switch (protocolOf(route)) {
    case 'toapis':
      return toapisError(500, 'internal_error', message)
    case 'aa':
      return aaError(500, message, requestId)
    case 'openai':
      return openaiError(500, message, requestId, 'server_error')
    default:
      return xmlError(500, 'InternalError', message, requestId)
  }
}

function tooLarge(route: RouteId, requestId: string): Reply {
  switch (protocolOf(route)) {
    case 'toapis':
      return route === 'toapis.upload'
        ? jsonReply(413, { success: false, message: 'Request body too large' })
        : toapisError(413, 'invalid_request', 'Request body too large')
    case 'aa':
      return aaError(413, 'request body too large', requestId)
    default:
      return openaiError(413, 'Request body too large.', requestId)
  }
}

function emptyStats(): InFlightStats {
  return { overall: 0, byRoute: {} }
}

export class FakeServerImpl implements FakeProviderServer {
  url = ''
  port = 0
  baseUrls = { toapis: '', aa: '', openai: '', files: '' }
  readonly apiKey: string
  readonly resultTtlMs: number
  readonly pollStatusOnSubmit: 'queued' | 'pending'
  readonly progressSteps: number
  readonly toapisMaxN: number
  readonly models: { toapis: readonly string[]; aa: readonly string[]; openai: readonly string[] }
  readonly maxBodyBytes: number

  readonly requests: RequestLogEntry[] = []
  readonly rawBodies: RawBodyEntry[] = []
  readonly submissions: Submission[] = []
  polls = 0
  maxActiveTasks = 0

  readonly files = new Map<string, StoredFile>()
  readonly taskMap = new Map<string, Task>()

  private latency: Latency
  /** End times of toapis tasks still running at the last submit (for `maxActiveTasks`). */
  private runningTaskEnds: number[] = []
  /** Results rendered ahead of their files (`prerender`), by spec and variant. */
  private readonly prerendered = new Map<string, Promise<Buffer>>()
  private readonly seed: number
  private random: () => number
  private readonly external: Map<string, Buffer>
  /** `rateLimits`: per route, the times of the requests processed within the last minute (oldest first from `start`). */
  private readonly windows = new Map<RouteId, { limit: number; times: number[]; start: number }>()
  /** `sharedRenders`: one rendering per size, format and variant. */
  private readonly templates: Map<string, Promise<Buffer>> | undefined
  private readonly queued = new Map<RouteId, Fault[]>()
  private readonly persistent = new Map<RouteId, { fraction: number; fault: Fault }[]>()
  private readonly promptFaults: { substring: string; fault: Fault }[] = []
  private current = emptyStats()
  private peak = emptyStats()
  private readonly sockets = new Set<Socket>()
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()
  private readonly http: Server
  private closed = false
  private closing: Promise<void> | undefined

  constructor(options: FakeServerOptions) {
    this.apiKey = options.apiKey ?? 'test-key'
    this.latency = options.latencyMs ?? 50
    this.resultTtlMs = options.resultTtlMs ?? 24 * 60 * 60 * 1000
    this.pollStatusOnSubmit = options.pollStatusOnSubmit ?? 'queued'
    this.seed = options.seed ?? 1
    this.random = prng(this.seed)
    this.progressSteps = Math.max(1, Math.floor(options.progressSteps ?? 4))
    this.toapisMaxN = options.toapisMaxN ?? 4
    this.models = {
      toapis: options.models?.toapis ?? DEFAULT_MODELS.toapis,
      aa: options.models?.aa ?? DEFAULT_MODELS.aa,
      openai: options.models?.openai ?? DEFAULT_MODELS.openai,
    }
    this.maxBodyBytes = options.maxBodyBytes ?? 256 * 1024 * 1024
    this.external = new Map(Object.entries(options.externalImages ?? {}).map(([url, bytes]) => [url, Buffer.from(bytes)]))
    for (const [route, limit] of Object.entries(options.rateLimits ?? {}) as [RouteId, number][]) {
      if (!(Number.isInteger(limit) && limit > 0)) throw new RangeError(`rateLimits.${route} must be a positive integer, got ${limit}`)
      this.windows.set(route, { limit, times: [], start: 0 })
    }
    this.templates = options.sharedRenders ? new Map() : undefined
    validateLatency(this.latency)
    this.http = createServer({ requestTimeout: 0, keepAliveTimeout: 5000 }, (req, res) => {
      this.onRequest(req, res).catch((error: unknown) => {
        process.stderr.write(`fake-provider: ${String(error)}\n`)
        if (!res.headersSent) res.destroy()
      })
    })
    this.http.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(0, '127.0.0.1', () => {
        this.http.off('error', reject)
        resolve()
      })
    })
    const address = this.http.address() as AddressInfo
    this.port = address.port
    this.url = `http://127.0.0.1:${address.port}`
    this.baseUrls = { toapis: `${this.url}/toapis/v1`, aa: `${this.url}/aa`, openai: `${this.url}/openai/v1`, files: `${this.url}/files` }
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  fault(route: RouteId, ...faults: Fault[]): void {
    for (const fault of faults) checkFault(route, fault)
    const queue = this.queued.get(route) ?? []
    queue.push(...faults)
    this.queued.set(route, queue)
  }

  failEvery(route: RouteId, fraction: number, fault: Fault): void {
    checkFault(route, fault)
    if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`failEvery: fraction must be within 0..1, got ${fraction}`)
    const rules = this.persistent.get(route) ?? []
    rules.push({ fraction, fault })
    this.persistent.set(route, rules)
  }

  faultOnPrompt(substring: string, fault: Fault): void {
    if ((fault.kind === 'reset' || fault.kind === 'stall') && fault.when !== 'after-body') {
      throw new Error(`faultOnPrompt: a ${fault.kind} fault must use when: 'after-body' (the prompt is known only after the body is read)`)
    }
    if (!SUBMIT_ROUTES.some((route) => isFaultAllowed(route, fault.kind)))
      throw new Error(`faultOnPrompt: fault kind '${fault.kind}' does not apply to submits`)
    this.promptFaults.push({ substring, fault })
  }

  clearFaults(route?: RouteId): void {
    if (route) {
      this.queued.delete(route)
      this.persistent.delete(route)
      return
    }
    this.queued.clear()
    this.persistent.clear()
    this.promptFaults.length = 0
  }

  pendingFaults(route?: RouteId): number {
    if (route) return this.queued.get(route)?.length ?? 0
    let total = 0
    for (const queue of this.queued.values()) total += queue.length
    return total
  }

  setLatency(latency: Latency): void {
    validateLatency(latency)
    this.latency = latency
  }

  private takeFault(route: RouteId): Fault | undefined {
    const queue = this.queued.get(route)
    if (queue && queue.length > 0) return queue.shift()
    for (const rule of this.persistent.get(route) ?? []) {
      if (this.random() < rule.fraction) return rule.fault
    }
    return undefined
  }

  /**
   * Called by submit handlers once the prompt is known: applies a matching `faultOnPrompt` fault
   * when the request has none yet. Returns the reply for a `status` fault.
   */
  promptFault(ctx: RequestContext, prompt: string): Reply | undefined {
    if (!ctx.fault) {
      const rule = this.promptFaults.find((r) => prompt.includes(r.substring) && isFaultAllowed(ctx.route, r.fault.kind))
      if (rule) ctx.fault = rule.fault
    }
    return ctx.fault?.kind === 'status' ? statusFaultReply(ctx.route, ctx.fault, ctx.requestId) : undefined
  }

  // ---------------------------------------------------------------------------------------------
  // Counters

  submits(match?: SubmissionMatch): number {
    if (match === undefined) return this.submissions.length
    if (typeof match === 'string') return this.submissions.filter((s) => s.prompt.includes(match)).length
    return this.submissions.filter((s) => match(s.body, s)).length
  }

  submitsByPrompt(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const s of this.submissions) counts.set(s.prompt, (counts.get(s.prompt) ?? 0) + 1)
    return counts
  }

  get maxInFlight(): InFlightStats {
    return { overall: this.peak.overall, byRoute: { ...this.peak.byRoute } }
  }

  get inFlight(): InFlightStats {
    return { overall: this.current.overall, byRoute: { ...this.current.byRoute } }
  }

  requestCount(route?: RouteId | 'unknown'): number {
    return route === undefined ? this.requests.length : this.requests.filter((r) => r.route === route).length
  }

  task(id: string): TaskInfo | undefined {
    const task = this.taskMap.get(id)
    if (!task) return undefined
    const view = taskView(this, task)
    return {
      id: task.id,
      model: task.model,
      prompt: task.prompt,
      n: task.n,
      status: String(view.status),
      progress: typeof view.progress === 'number' ? view.progress : 100,
      createdAt: task.createdAt,
      finishesAt: task.mode === 'never' ? Number.POSITIVE_INFINITY : task.createdAt + task.durationMs,
      width: task.width,
      height: task.height,
      format: task.format,
      urls: task.files.map((f) => this.fileUrl(f)),
    }
  }

  tasks(): TaskInfo[] {
    return [...this.taskMap.keys()].flatMap((id) => this.task(id) ?? [])
  }

  reset(): void {
    this.requests.length = 0
    this.rawBodies.length = 0
    this.submissions.length = 0
    this.polls = 0
    this.maxActiveTasks = 0
    this.peak = { overall: this.current.overall, byRoute: { ...this.current.byRoute } }
    this.clearFaults()
    this.random = prng(this.seed)
  }

  private enter(route: RouteId | 'unknown'): void {
    this.current.overall++
    this.peak.overall = Math.max(this.peak.overall, this.current.overall)
    if (route === 'unknown') return
    const now = (this.current.byRoute[route] ?? 0) + 1
    this.current.byRoute[route] = now
    this.peak.byRoute[route] = Math.max(this.peak.byRoute[route] ?? 0, now)
  }

  private leave(route: RouteId | 'unknown'): void {
    this.current.overall--
    if (route !== 'unknown') this.current.byRoute[route] = (this.current.byRoute[route] ?? 1) - 1
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers for route handlers

  now(): number {
    return Date.now()
  }

  isClosed(): boolean {
    return this.closed
  }

  sampleLatency(): number {
    const latency = this.latency
    if (typeof latency === 'number') return latency
    return latency.min + this.random() * (latency.max - latency.min)
  }

  /** Waits `ms`, or less when the server closes. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper)
          resolve()
        }, ms),
        resolve,
      }
      this.sleepers.add(sleeper)
    })
  }

  recordBody(route: RouteId, body: unknown): void {
    this.rawBodies.push({ route, at: this.now(), body })
  }

  /** Counts an accepted paid submission. */
  accept(submission: Omit<Submission, 'at'>): void {
    this.submissions.push({ ...submission, at: this.now() })
  }

  /** Registers a toapis task and updates `maxActiveTasks`. */
  addTask(task: Task): void {
    this.taskMap.set(task.id, task)
    const now = task.createdAt
    const end = task.mode === 'never' ? Number.POSITIVE_INFINITY : task.createdAt + task.durationMs
    this.runningTaskEnds = this.runningTaskEnds.filter((e) => e > now)
    if (end > now) this.runningTaskEnds.push(end)
    this.maxActiveTasks = Math.max(this.maxActiveTasks, this.runningTaskEnds.length)
  }

  storeUpload(bytes: Buffer, info: ImageInfo, mime: string): { id: string; file: StoredFile } {
    const id = `upload_${hex(4)}`
    const ext = info.format === 'jpeg' ? 'jpg' : info.format
    const file: StoredFile = {
      name: `${id}.${ext}`,
      kind: 'upload',
      mime,
      availableAt: 0,
      expiresAt: Number.POSITIVE_INFINITY,
      variant: 'normal',
      info,
      bytes,
    }
    this.files.set(file.name, file)
    return { id, file }
  }

  /**
   * Starts rendering a result that is about to exist (a synchronous call still inside its
   * latency), so that `storeResult` finds it made. A real provider serves results from a CDN; the
   * fake renders each with sharp (~60 ms for 1024² on two cores), which must not land inside the
   * download a benchmark times.
   */
  prerender(spec: RenderSpec, variant: StoredFile['variant']): void {
    const key = renderKey(spec, variant)
    if (this.prerendered.has(key)) return
    const rendering = this.render(spec, variant)
    rendering.catch(() => {})
    this.prerendered.set(key, rendering)
  }

  storeResult(spec: RenderSpec, availableAt: number, expiresAt: number, variant: StoredFile['variant']): StoredFile {
    const key = renderKey(spec, variant)
    const made = this.prerendered.get(key)
    this.prerendered.delete(key)
    const file: StoredFile = {
      name: `res_${hex(8)}.${extOf(spec.format)}`,
      kind: 'result',
      mime: spec.format === 'jpeg' ? 'image/jpeg' : `image/${spec.format}`,
      availableAt,
      expiresAt,
      variant,
      spec,
    }
    this.files.set(file.name, file)
    // Rendered now, while its task runs (or at once), not on first download: see `prerender`.
    if (made) file.pending = made
    this.fileBytes(file).catch(() => {})
    return file
  }

  fileUrl(file: StoredFile): string {
    return `${this.url}/files/${file.name}`
  }

  /** The bytes of a stored file, rendering a result on first use. */
  fileBytes(file: StoredFile): Promise<Buffer> {
    if (file.bytes) return Promise.resolve(file.bytes)
    file.pending ??= this.render(file.spec, file.variant).then((bytes) => {
      file.bytes = bytes
      return bytes
    })
    return file.pending
  }

  /** A result's bytes: rendered, or with `sharedRenders` a marked copy of its size's one rendering. */
  private async render(spec: RenderSpec | undefined, variant: StoredFile['variant']): Promise<Buffer> {
    if (!this.templates || !spec || variant === 'not-image') return renderVariant(spec, variant)
    const key = renderKey({ ...spec, seed: '' }, variant)
    let template = this.templates.get(key)
    if (!template) {
      template = renderVariant({ ...spec, seed: key }, variant)
      this.templates.set(key, template)
    }
    return withMetadataText(await template, spec.format, spec.seed) ?? renderVariant(spec, variant)
  }

  /**
   * `rateLimits`: whether one more request to `route` fits in its last minute (and if so, counts
   * it), else the whole seconds until the oldest counted one leaves the window.
   */
  private admit(route: RouteId): { retryAfter: number } | undefined {
    const window = this.windows.get(route)
    if (!window) return undefined
    const now = this.now()
    while (window.start < window.times.length && (window.times[window.start] ?? 0) <= now - 60_000) window.start++
    if (window.times.length - window.start >= window.limit) {
      return { retryAfter: Math.max(1, Math.ceil(((window.times[window.start] ?? now) + 60_000 - now) / 1000)) }
    }
    // Drop the expired head now and then, so the array stays about `limit` long.
    if (window.start > window.limit) {
      window.times.splice(0, window.start)
      window.start = 0
    }
    window.times.push(now)
    return undefined
  }

  /**
   * Fetches an image by URL the way a provider would: a data URL (unless the caller rejected it),
   * a file this server issued (uploads, unexpired results), or an `externalImages` entry.
   */
  async resolveImageUrl(url: string): Promise<{ bytes: Buffer; info: ImageInfo } | { error: string }> {
    let bytes: Buffer | undefined
    if (url.startsWith('data:')) {
      const comma = url.indexOf(',')
      if (comma < 0) return { error: 'invalid data URL' }
      const [mediaType = '', ...params] = url.slice(5, comma).split(';')
      if (!params.some((p) => p.toLowerCase() === 'base64')) return { error: 'data URL must be base64-encoded' }
      if (!mediaType.toLowerCase().startsWith('image/')) return { error: `unsupported data URL media type '${mediaType}'` }
      bytes = Buffer.from(url.slice(comma + 1), 'base64')
    } else {
      let parsed: URL
      try {
        parsed = new URL(url)
      } catch {
        return { error: `invalid URL ${JSON.stringify(url.slice(0, 100))}` }
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return { error: `unsupported URL scheme '${parsed.protocol}'` }
      bytes = await this.fetchIssued(parsed)
      if (!bytes) return { error: `failed to download image from ${url}` }
    }
    const info = await inspectImage(bytes)
    if (!info) return { error: 'the file is not a valid image' }
    return { bytes, info }
  }

  private async fetchIssued(url: URL): Promise<Buffer | undefined> {
    const external = this.external.get(url.href)
    if (external) return external
    if (url.origin !== this.url) return undefined
    const match = /^\/files\/([A-Za-z0-9_.-]+)$/.exec(url.pathname)
    const file = match?.[1] ? this.files.get(match[1]) : undefined
    const now = this.now()
    if (!file || now < file.availableAt || now >= file.expiresAt) return undefined
    return this.fileBytes(file)
  }

  // ---------------------------------------------------------------------------------------------
  // Request pipeline

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closed) {
      req.socket.destroy()
      return
    }
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const url = new URL(path, this.url)
    const matched = matchRoute(method, url.pathname)
    const route = matched?.route ?? 'unknown'
    const entry: RequestLogEntry = { route, method, path, status: 0, headers: flattenHeaders(req.headers), startedAt: this.now(), completed: false }
    this.requests.push(entry)
    this.enter(route)
    let left = false
    res.on('finish', () => {
      entry.completed = true
    })
    res.on('close', () => {
      if (left) return
      left = true
      entry.endedAt = this.now()
      entry.status = res.headersSent ? res.statusCode : 0
      this.leave(route)
    })
    const requestId = `req_${hex(12)}`

    if (!matched) {
      try {
        await readBody(req, this.maxBodyBytes)
      } catch {
        return
      }
      send(
        res,
        jsonReply(404, { error: { message: `Not found: ${method} ${url.pathname}`, type: 'invalid_request_error', param: null, code: 'not_found' } }),
        false,
      )
      return
    }
    if (matched.route === 'toapis.poll') this.polls++

    const ctx: RequestContext = {
      req,
      method,
      url,
      route: matched.route,
      param: matched.param,
      body: Buffer.alloc(0),
      fault: this.takeFault(matched.route),
      requestId,
    }
    if (ctx.fault) entry.fault = ctx.fault.kind
    const fault = ctx.fault

    if (fault?.kind === 'reset' && fault.when === 'before-body') {
      req.socket.resetAndDestroy()
      return
    }
    if (fault?.kind === 'stall' && fault.when !== 'after-body') return

    let body: Buffer | undefined
    try {
      body = await readBody(req, this.maxBodyBytes)
    } catch {
      return
    }
    if (body === undefined) {
      send(res, tooLarge(matched.route, requestId), false)
      return
    }
    ctx.body = body

    if (fault?.kind === 'status') {
      send(res, statusFaultReply(matched.route, fault, requestId), method === 'HEAD')
      return
    }
    const limited = this.admit(matched.route)
    if (limited) {
      entry.rateLimited = true
      send(res, statusFaultReply(matched.route, { kind: 'status', status: 429, retryAfter: limited.retryAfter }, requestId), method === 'HEAD')
      return
    }

    let result: HandlerResult
    if (matched.route !== 'files.download' && !this.authorized(req)) {
      result = authReply(matched.route, requestId, req.headers.authorization !== undefined)
    } else {
      try {
        result = await handlers[matched.route](this, ctx)
      } catch (error) {
        process.stderr.write(`fake-provider: ${matched.route} handler failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
        result = internalError(matched.route, requestId, `fake provider internal error: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
    if (ctx.fault && !entry.fault) entry.fault = ctx.fault.kind
    this.deliver(ctx, res, result)
  }

  private authorized(req: IncomingMessage): boolean {
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')
    return match?.[1]?.trim() === this.apiKey
  }

  private deliver(ctx: RequestContext, res: ServerResponse, result: HandlerResult): void {
    if (result === 'hold' || res.destroyed || this.closed) return
    let reply = result
    switch (ctx.fault?.kind) {
      case 'reset':
        ctx.req.socket.resetAndDestroy()
        return
      case 'stall':
        return
      case 'malformed-json':
        reply = malformed(reply)
        break
      case 'truncated':
        this.sendTruncated(res, reply)
        return
      case 'unbounded':
        this.sendUnbounded(res, reply)
        return
      default:
        break
    }
    send(res, reply, ctx.method === 'HEAD')
  }

  private sendTruncated(res: ServerResponse, reply: Reply): void {
    const declared = Math.max(reply.body.length, 2)
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(declared) })
    res.write(reply.body.subarray(0, Math.floor(declared / 2)), () => res.destroy())
  }

  private sendUnbounded(res: ServerResponse, reply: Reply): void {
    const headers = { ...reply.headers }
    delete headers['content-length']
    res.writeHead(reply.status, headers)
    res.write(reply.body.subarray(0, Math.floor(reply.body.length / 2)))
    const filler = Buffer.alloc(64 * 1024, 0x41)
    const pump = (): void => {
      while (!res.destroyed && !this.closed) {
        if (!res.write(filler)) {
          res.once('drain', pump)
          return
        }
      }
    }
    pump()
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.closed = true
      for (const sleeper of this.sleepers) {
        clearTimeout(sleeper.timer)
        sleeper.resolve()
      }
      this.sleepers.clear()
      this.http.close(() => resolve())
      this.http.closeAllConnections()
      for (const socket of this.sockets) socket.destroy()
    })
    return this.closing
  }
}

function renderKey(spec: RenderSpec, variant: StoredFile['variant']): string {
  return JSON.stringify([spec.width, spec.height, spec.format, spec.compression, spec.seed, spec.transparent, variant])
}

async function renderVariant(spec: RenderSpec | undefined, variant: StoredFile['variant']): Promise<Buffer> {
  if (variant === 'not-image' || !spec) return NOT_AN_IMAGE
  if (variant === 'wrong-size') return renderImage({ ...spec, ...wrongSize(spec.width, spec.height) })
  return renderImage(spec)
}

function isFaultAllowed(route: RouteId, kind: FaultKind): boolean {
  return GENERIC_FAULTS.includes(kind) || ROUTE_FAULTS[route].includes(kind)
}

function checkFault(route: RouteId, fault: Fault): void {
  if (!ROUTES.includes(route)) throw new Error(`unknown route '${route}'; routes: ${ROUTES.join(', ')}`)
  if (!isFaultAllowed(route, fault.kind)) {
    const allowed = [...GENERIC_FAULTS, ...ROUTE_FAULTS[route]]
    throw new Error(`fault kind '${fault.kind}' does not apply to route '${route}'; it takes: ${allowed.join(', ')}`)
  }
  if (fault.kind === 'status' && !(Number.isInteger(fault.status) && fault.status >= 100 && fault.status <= 599)) {
    throw new RangeError(`status fault: invalid HTTP status ${fault.status}`)
  }
  if (fault.kind === 'reset' && fault.when !== 'before-body' && fault.when !== 'after-body') {
    throw new Error("reset fault: when must be 'before-body' or 'after-body'")
  }
}

function validateLatency(latency: Latency): void {
  const ok = typeof latency === 'number' ? latency >= 0 : latency.min >= 0 && latency.max >= latency.min
  if (!ok) throw new RangeError(`latencyMs must be a number >= 0 or {min, max} with 0 <= min <= max, got ${JSON.stringify(latency)}`)
}

/** Starts the fake provider server on 127.0.0.1 with an ephemeral port. */
export async function startFakeProviderServer(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  const server = new FakeServerImpl(options)
  await server.listen()
  return server
}
