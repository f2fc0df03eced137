import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { basename, join, resolve, sep } from 'node:path'
import { DevSession, type Diagnostic, imageDimensions, type JobView, type Project, type SessionEvent } from '@images-edit/core'
import type { ViteDevServer } from 'vite'
import { dtsPath, renderDts, writeDts } from './dts.js'
import { describeError, displayPath, formatDiagnosticLine, formatDiagnostics, locationOf, TAG } from './messages.js'
import { PANEL_HTML } from './panel-page.js'
import { type PanelState, panelState } from './panel-state.js'
import { idOfModule, type ModuleImage, renderModule } from './virtual-module.js'

/** URL prefix of images served during dev: `/@images-edit/<job id>/<index>.<ext>?v=<version>`. */
export const IMAGE_PREFIX = '/@images-edit/'
/** URL of the dev panel. */
export const PANEL_PREFIX = '/__images-edit/'

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' }
const EXTENSIONS: Record<string, string> = { png: 'png', jpeg: 'jpg', webp: 'webp' }
const INPUT_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' }

/** What the dev server needs from the plugin's options. */
export interface DevOptions {
  openProject: () => Promise<Project>
  /** Only when set explicitly; otherwise core's rule applies (frozen exactly when CI is set). */
  frozen: boolean | undefined
  /**
   * Start the session at the first module or image request, not with the server, and watch
   * nothing: for servers a framework or test runner starts for itself, which run frozen.
   */
  lazy?: boolean
  dts: boolean | string | undefined
  panel: boolean
}

/**
 * The dev-server side of the plugin: one {@link DevSession} (the engine decides what runs), Vite's
 * watcher feeding it, a middleware serving images and placeholders, HMR when a module's images
 * change, the overlay and the terminal for errors, and the panel. It never waits for a provider.
 */
export class DevServerBridge {
  private session: DevSession | undefined
  private project: Project | undefined
  private started: Promise<void> | undefined
  private startError: unknown
  /** Code last served per loaded virtual module, to know which ones an event changed. */
  private readonly served = new Map<string, string>()
  private readonly watchedFiles = new Set<string>()
  private readonly watchedFolders = new Set<string>()
  private readonly lastPhase = new Map<string, { phase: string; version: string; error?: string }>()
  private manifestErrors: Diagnostic[] | undefined
  private warnings: string[] = []
  private failedLoads = false
  private sessionError: string | undefined
  private readonly panelClients = new Set<ServerResponse>()
  private refreshTimer: NodeJS.Timeout | undefined
  private hmrTimer: NodeJS.Timeout | undefined
  private hmrChain: Promise<void> = Promise.resolve()
  private reloadTimer: NodeJS.Timeout | undefined
  private panelTimer: NodeJS.Timeout | undefined
  private pingTimer: NodeJS.Timeout | undefined
  private readonly sizes = new Map<string, Promise<{ width: number; height: number }>>()
  private closed = false

  constructor(
    private readonly server: ViteDevServer,
    private readonly options: DevOptions,
  ) {
    if (!options.lazy) void this.ready
  }

  /** Resolves once the first plan is made (not when jobs finish): modules wait for this only. A lazy bridge starts here. */
  get ready(): Promise<void> {
    if (!this.started) {
      this.started = this.start()
      this.started.catch(() => {})
    }
    return this.started
  }

  private get base(): string {
    return this.server.config.base.endsWith('/') ? this.server.config.base : `${this.server.config.base}/`
  }

  private get logger() {
    return this.server.config.logger
  }

  private async start(): Promise<void> {
    try {
      this.project = await this.options.openProject()
    } catch (error) {
      this.startError = error
      this.sessionError = describeError(error, this.server.config.root)
      this.logger.error(`${TAG} ${this.sessionError}`, { timestamp: true })
      this.pushPanel()
      throw error
    }
    this.session = new DevSession(this.project, {
      onEvent: (event) => this.onEvent(event),
      ...(this.options.frozen !== undefined ? { frozen: this.options.frozen } : {}),
    })
    if (!this.options.lazy)
      this.server.watcher.on('all', (event, path) => {
        if ((event === 'add' || event === 'change' || event === 'unlink') && this.affects(resolve(path))) this.scheduleRefresh()
      })
    await this.refresh()
    const jobs = this.session.jobs()
    const waiting = jobs.filter((job) => job.phase !== 'ready').length
    this.logger.info(
      `${TAG} ${jobs.length} job${jobs.length === 1 ? '' : 's'} in ${displayPath(this.project.manifestPath, this.server.config.root)}: ${jobs.length - waiting} ready${waiting > 0 ? `, ${waiting} being made (placeholders until then)` : ''}`,
      { timestamp: true },
    )
  }

  /** Waits for every running job (tests; a build right after dev). */
  async idle(): Promise<void> {
    await this.started?.catch(() => {})
    await this.session?.idle()
  }

  /** The engine session (other plugins may read job views from it). */
  get devSession(): DevSession | undefined {
    return this.session
  }

  /** Whether a watched path is an input: the manifest, a ref or mask, or a file in an `each` folder. */
  private affects(path: string): boolean {
    if (this.watchedFiles.has(path)) return true
    for (const folder of this.watchedFolders) if (path.startsWith(folder + sep)) return true
    return false
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer)
    // Editors write a file in several steps (truncate, write, rename): one refresh per burst.
    this.refreshTimer = setTimeout(() => void this.refresh(), 60)
  }

  private async refresh(): Promise<void> {
    if (!this.session || this.closed) return
    await this.session.refresh()
    this.watchInputs()
  }

  private watchInputs(): void {
    if (!this.session || this.options.lazy) return
    const { files, folders } = this.session.watchList()
    const added = [...files, ...folders].filter((path) => !this.watchedFiles.has(path) && !this.watchedFolders.has(path))
    this.watchedFiles.clear()
    this.watchedFolders.clear()
    for (const file of files) this.watchedFiles.add(resolve(file))
    for (const folder of folders) this.watchedFolders.add(resolve(folder))
    if (added.length > 0) this.server.watcher.add(added)
  }

  // ---- virtual modules ----------------------------------------------------------------------

  /** The module code of `images-edit:<id>` as it stands now (placeholders for what is not ready). */
  async moduleCode(resolvedId: string): Promise<string> {
    const id = idOfModule(resolvedId) as string
    try {
      await this.ready
    } catch {
      this.failedLoads = true
      throw new Error(describeError(this.startError, this.server.config.root))
    }
    const session = this.session as DevSession
    const views = this.viewsFor(id)
    if (views.length === 0) {
      this.failedLoads = true
      if (!session.manifest && this.manifestErrors) throw new Error(formatDiagnostics(this.manifestErrors, this.server.config.root))
      const recipes = [...new Set(session.jobs().map((job) => job.recipe))]
      throw new Error(`${TAG} no recipe or job "${id}" in the manifest. Recipes: ${recipes.join(', ') || '(none)'}.`)
    }
    const code = await this.render(id, views)
    this.served.set(resolvedId, code)
    return code
  }

  private viewsFor(id: string): JobView[] {
    const session = this.session
    if (!session) return []
    const ofRecipe = session.recipeJobs(id)
    if (ofRecipe.length > 0) return ofRecipe
    return session.jobs().filter((job) => job.id === id)
  }

  private async render(id: string, views: readonly JobView[]): Promise<string> {
    const images: ModuleImage[] = []
    for (const view of views) {
      for (let index = 0; index < view.n; index++) {
        const ready = view.images[index]
        const size = ready ?? view.size ?? (await this.placeholderSize(view, index))
        images.push({
          srcExpression: JSON.stringify(this.imageUrl(view, index)),
          width: size.width,
          height: size.height,
          format: ready?.format ?? view.format,
          job: view.id,
          placeholder: !ready,
        })
      }
    }
    const problem = views.find((view) => view.phase === 'failed' || view.phase === 'blocked')
    const error = problem ? `${problem.id}: ${problem.error ?? problem.reasons.join('; ')}` : undefined
    return renderModule(id, images, { hot: true, ...(error ? { error } : {}) })
  }

  /** A job's image URL, versioned by content (or by key for a placeholder) so browsers never show a stale one. */
  imageUrl(view: JobView, index: number): string {
    const ready = view.images[index]
    const format = ready?.format ?? view.format
    const version = ready ? ready.sha256.slice(0, 16) : `placeholder-${view.key.slice(0, 16)}`
    return `${this.base}${IMAGE_PREFIX.slice(1)}${encodeURIComponent(view.id)}/${index}.${EXTENSIONS[format]}?v=${version}`
  }

  /** `ratio: auto` has no size before the provider answers; the placeholder's own size stands in. */
  private placeholderSize(view: JobView, index: number): Promise<{ width: number; height: number }> {
    const cacheKey = `${view.key}:${index}`
    let pending = this.sizes.get(cacheKey)
    if (!pending) {
      pending = (this.session as DevSession).placeholder(view.id, index).then((bytes) => {
        const size = imageDimensions(bytes)
        return { width: size?.width ?? 0, height: size?.height ?? 0 }
      })
      this.sizes.set(cacheKey, pending)
    }
    return pending
  }

  /** Re-renders every loaded module; those whose code changed are invalidated and hot-updated. */
  private scheduleHmr(): void {
    clearTimeout(this.hmrTimer)
    // One pass at a time: a pass started while another awaits would compare against the same old code.
    this.hmrTimer = setTimeout(() => {
      this.hmrChain = this.hmrChain.then(() => this.hotUpdate()).catch(() => {})
    }, 25)
  }

  /** A page reload for modules only server code imports, at most one per {@link RELOAD_THROTTLE_MS}. */
  private scheduleReload(): void {
    if (this.reloadTimer) return
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined
      if (!this.closed) this.server.hot.send({ type: 'full-reload', path: '*' })
    }, RELOAD_THROTTLE_MS)
  }

  private async hotUpdate(): Promise<void> {
    if (this.closed) return
    // A module only server-side code imports (an Astro page's frontmatter, an SSR-only route) has no
    // client module to swap: the page must be rendered again.
    let serverOnly = false
    for (const [resolvedId, before] of [...this.served]) {
      const id = idOfModule(resolvedId) as string
      const views = this.viewsFor(id)
      const after = views.length > 0 ? await this.render(id, views) : undefined
      if (after === before) continue
      let found = false
      let inClient = false
      let moduleHasImporters = false
      for (const environment of Object.values(this.server.environments)) {
        const module = environment.moduleGraph.getModuleById(resolvedId)
        if (!module) continue
        found = true
        // A module no page imports any more (its import was removed) reloads nothing.
        if (module.importers.size > 0) moduleHasImporters = true
        environment.moduleGraph.invalidateModule(module)
        if (environment.name === 'client') {
          inClient = true
          await environment.reloadModule(module)
        }
      }
      if (found && !inClient && moduleHasImporters) serverOnly = true
      if (found && after !== undefined) this.served.set(resolvedId, after)
      else this.served.delete(resolvedId)
    }
    if (serverOnly) this.scheduleReload()
  }

  // ---- engine events: terminal, overlay, HMR, panel -----------------------------------------

  private onEvent(event: SessionEvent): void {
    const root = this.server.config.root
    switch (event.type) {
      case 'manifest:error': {
        this.manifestErrors = event.diagnostics
        const text = formatDiagnostics(event.diagnostics, root)
        this.logger.error(`${TAG} the manifest has errors; keeping the last good state until they are fixed:\n${text}`, { timestamp: true })
        const loc = locationOf(event.diagnostics)
        this.overlay(`images-edit: the manifest has errors\n\n${text}`, loc)
        break
      }
      case 'manifest:ok': {
        const wasBroken = this.manifestErrors !== undefined
        this.manifestErrors = undefined
        const warnings = event.warnings.filter((item) => item.severity === 'warning').map((item) => formatDiagnosticLine(item, root))
        for (const warning of warnings) if (!this.warnings.includes(warning)) this.logger.warn(`${TAG} ${warning}`, { timestamp: true })
        this.warnings = warnings
        if (wasBroken || this.failedLoads) {
          // Modules that failed to load are not in the graph: only a reload retries them. Otherwise an
          // empty update is enough to clear the overlay.
          this.server.hot.send(this.failedLoads ? { type: 'full-reload', path: '*' } : { type: 'update', updates: [] })
          this.failedLoads = false
        }
        void this.writeTypes()
        break
      }
      case 'job':
        this.onJob(event.job)
        this.scheduleHmr()
        break
      case 'run':
        if (event.event.type === 'warning') this.logger.warn(`${TAG} ${event.event.id ? `${event.event.id}: ` : ''}${event.event.message}`, { timestamp: true })
        if (event.event.type === 'run:stopping') {
          const calls = event.event.inFlight.map((call) => `${call.id} (${call.provider} ${call.stage})`).join(', ')
          this.logger.warn(`${TAG} closing: waiting up to ${CLOSE_GRACE_MS / 1000}s for paid calls already sent, so they are not paid again: ${calls}`, {
            timestamp: true,
          })
        }
        if (event.event.type === 'job:failed' && event.event.error.billed) {
          this.logger.warn(
            `${TAG} ${event.event.id}: ${event.event.error.billed === 'yes' ? 'billed' : 'may have been billed'} — ${event.event.error.message}`,
            {
              timestamp: true,
            },
          )
        }
        break
      case 'error':
        this.sessionError = event.message
        this.logger.error(`${TAG} ${event.message}`, { timestamp: true })
        this.overlay(`images-edit: ${event.message}`)
        break
      default:
        break
    }
    this.pushPanel()
  }

  private onJob(view: JobView): void {
    const previous = this.lastPhase.get(view.id)
    const version = view.images.map((image) => image.sha256).join(',')
    this.lastPhase.set(view.id, { phase: view.phase, version, ...(view.error ? { error: view.error } : {}) })
    if (previous?.phase === view.phase && previous.version === version && previous.error === view.error) return
    const label = view.id === view.recipe ? view.id : `${view.recipe} (${view.id})`
    switch (view.phase) {
      case 'running':
        if (previous?.phase !== 'running') this.logger.info(`${TAG} ${label}: generating on ${view.provider}…`, { timestamp: true })
        break
      case 'ready':
        // Jobs that were already up to date at startup are not news.
        if (previous && previous.phase !== 'ready') {
          const sizes = [...new Set(view.images.map((image) => `${image.width}×${image.height}`))].join(', ')
          this.logger.info(
            `${TAG} ${label}: ready (${view.images.length} image${view.images.length === 1 ? '' : 's'}, ${sizes}${view.local ? ', local placeholder' : ''})`,
            {
              timestamp: true,
            },
          )
        }
        break
      case 'failed': {
        const message = `${label} failed on ${view.provider}: ${view.error ?? 'unknown error'}`
        this.logger.error(`${TAG} ${message}`, { timestamp: true })
        this.overlay(`images-edit: recipe ${message}`, this.recipeLocation(view))
        break
      }
      case 'blocked':
        this.logger.warn(`${TAG} ${label} is blocked: ${view.reasons.join('; ')}`, { timestamp: true })
        break
      default:
        break
    }
  }

  /** Where a recipe is written in the manifest, for the overlay. */
  private recipeLocation(view: JobView): { file: string; line: number; column: number } | undefined {
    const manifest = this.session?.manifest
    const job = manifest?.jobs.find((item) => item.id === view.id)
    if (!manifest || !job) return undefined
    const diagnostic = manifest.source.diagnostic('error', 'job/failed', job.docPath, view.error ?? '')
    return { file: diagnostic.file, line: diagnostic.line, column: diagnostic.column }
  }

  private overlay(message: string, loc?: { file: string; line: number; column: number }): void {
    this.server.hot.send({
      type: 'error',
      err: {
        message,
        stack: '',
        plugin: 'images-edit',
        ...(this.project ? { id: this.project.manifestPath } : {}),
        ...(loc ? { loc } : {}),
      },
    })
  }

  private async writeTypes(): Promise<void> {
    const path = dtsPath(this.options.dts, this.server.config.root)
    const manifest = this.session?.manifest
    if (!path || !manifest) return
    try {
      if (await writeDts(path, renderDts(manifest.jobs, basename(manifest.file)))) {
        this.logger.info(`${TAG} wrote ${displayPath(path, this.server.config.root)}`, { timestamp: true })
      }
    } catch (error) {
      this.logger.warn(`${TAG} could not write ${path}: ${(error as Error).message}`)
    }
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  /** Connect middleware: images, placeholders and the panel. Anything else goes to Vite. */
  readonly middleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void): void => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    let path = url.pathname
    if (this.base !== '/' && path.startsWith(this.base)) path = `/${path.slice(this.base.length)}`
    if (path.startsWith(IMAGE_PREFIX)) {
      this.serveImage(path.slice(IMAGE_PREFIX.length), response).catch(next)
      return
    }
    if (!this.options.panel) {
      next()
      return
    }
    if (path === PANEL_PREFIX.slice(0, -1)) {
      response.writeHead(302, { Location: `${this.base}${PANEL_PREFIX.slice(1)}` }).end()
      return
    }
    if (!path.startsWith(PANEL_PREFIX)) {
      next()
      return
    }
    const route = path.slice(PANEL_PREFIX.length)
    if (route === '' || route === 'index.html') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' }).end(PANEL_HTML)
    } else if (route === 'state.json') {
      response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' }).end(JSON.stringify(this.panelState()))
    } else if (route === 'events') {
      this.openEvents(request, response)
    } else if (route.startsWith('file/')) {
      this.serveInput(decodeURIComponent(route.slice('file/'.length)), response).catch(next)
    } else {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found')
    }
  }

  private async serveImage(rest: string, response: ServerResponse): Promise<void> {
    const match = /^([^/]+)\/(\d+)\.(\w+)$/.exec(rest)
    await this.ready.catch(() => {})
    const view = match ? this.session?.jobs().find((job) => job.id === decodeURIComponent(match[1] as string)) : undefined
    const index = Number(match?.[2])
    if (!view || !match || index >= view.n) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${TAG} no such image: ${rest}`)
      return
    }
    const ready = view.images[index]
    let bytes: Uint8Array | undefined
    if (ready) bytes = await readFile(join((this.project as Project).root, ready.path)).catch(() => undefined)
    // Not ready (or its file is gone for a moment): the local provider's rendering, same size.
    bytes ??= await (this.session as DevSession).placeholder(view.id, index)
    response
      .writeHead(200, {
        'Content-Type': CONTENT_TYPES[ready?.format ?? view.format] ?? 'application/octet-stream',
        'Content-Length': bytes.byteLength,
        'Cache-Control': 'no-cache',
        'X-Images-Edit': ready ? 'ready' : 'placeholder',
      })
      .end(bytes)
  }

  /** Serves a ref or mask to the panel — only files the manifest lists, nothing else under the root. */
  private async serveInput(path: string, response: ServerResponse): Promise<void> {
    await this.ready.catch(() => {})
    const listed = new Set(
      this.session?.jobs().flatMap((job) => [...job.refs, ...(job.mask ? [job.mask] : [])].flatMap((input) => (input.path ? [input.path] : []))),
    )
    const type = INPUT_TYPES[path.slice(path.lastIndexOf('.')).toLowerCase()]
    if (!this.project || !listed.has(path) || !type) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${TAG} not a ref or mask of the manifest: ${path}`)
      return
    }
    const bytes = await readFile(join(this.project.root, path))
    response.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.byteLength, 'Cache-Control': 'no-cache' }).end(bytes)
  }

  private panelState(): PanelState {
    const session = this.session
    // Recipes in the order the manifest lists them; the jobs of an `each` recipe by id.
    const order = new Map(Object.keys(session?.manifest?.manifest?.recipes ?? {}).map((recipe, index) => [recipe, index]))
    const views = (session?.jobs() ?? []).sort((a, b) => (order.get(a.recipe) ?? 0) - (order.get(b.recipe) ?? 0) || (a.id < b.id ? -1 : 1))
    const root = this.server.config.root
    return panelState(views, {
      manifest: this.project ? displayPath(this.project.manifestPath, root) : 'images.edit.yaml',
      ...(this.manifestErrors ? { manifestErrors: formatDiagnostics(this.manifestErrors, root) } : {}),
      ...(this.sessionError ? { error: this.sessionError } : {}),
      warnings: this.warnings,
      imageUrl: (view, index) => this.imageUrl(view, index),
      fileUrl: (path) => `${this.base}${PANEL_PREFIX.slice(1)}file/${encodeURIComponent(path)}`,
    })
  }

  private openEvents(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' })
    response.write(`event: state\ndata: ${JSON.stringify(this.panelState())}\n\n`)
    this.panelClients.add(response)
    request.on('close', () => this.panelClients.delete(response))
    if (!this.pingTimer) {
      // Proxies drop idle streams; a comment line every 20 s keeps them open.
      this.pingTimer = setInterval(() => {
        for (const client of this.panelClients) client.write(': ping\n\n')
      }, 20_000)
      this.pingTimer.unref()
    }
  }

  private pushPanel(): void {
    if (this.panelClients.size === 0 || this.panelTimer) return
    // Progress events come in bursts: at most ten frames a second.
    this.panelTimer = setTimeout(() => {
      this.panelTimer = undefined
      const frame = `event: state\ndata: ${JSON.stringify(this.panelState())}\n\n`
      for (const client of this.panelClients) client.write(frame)
    }, 100)
  }

  /** Stops: running provider calls are cancelled (their task ids stay journaled; the next start resumes them). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.refreshTimer)
    clearTimeout(this.hmrTimer)
    clearTimeout(this.reloadTimer)
    clearTimeout(this.panelTimer)
    clearInterval(this.pingTimer)
    for (const client of this.panelClients) client.end()
    this.panelClients.clear()
    await this.started?.catch(() => {})
    // Paid calls already sent are answered (their task ids journaled, their results kept) for up
    // to CLOSE_GRACE_MS; only then are they abandoned.
    await this.session?.close({ abort: true, abandonAfterMs: CLOSE_GRACE_MS })
  }
}

/** Several images of a server-rendered page becoming ready in a burst reload the page once. */
const RELOAD_THROTTLE_MS = 400

/** How long the dev server's shutdown waits for paid calls already sent before abandoning them. */
export const CLOSE_GRACE_MS = 60_000
