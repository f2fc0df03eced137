import type { IncomingMessage, ServerResponse } from 'node:http'
import { type DevContext, PANEL_PREFIX } from './dev-context.js'
import type { DevModules } from './dev-modules.js'
import { displayPath, formatDiagnostics } from './messages.js'
import { type PanelState, panelState } from './panel-state.js'
import type { PanelTakes } from './panel-takes.js'

/** Progress events come in bursts: at most ten frames a second. */
const PUSH_THROTTLE_MS = 100
/** Proxies drop idle streams; a comment line this often keeps them open. */
const PING_INTERVAL_MS = 20_000

/** The dev panel's state, and its server-sent event stream (`/__images-edit/events`). */
export class PanelStream {
  private readonly clients = new Set<ServerResponse>()
  private pushTimer: NodeJS.Timeout | undefined
  private pingTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly context: DevContext,
    private readonly modules: DevModules,
    private readonly takes: PanelTakes,
  ) {}

  /** What `/__images-edit/state.json` answers now. */
  state(): PanelState {
    const { session, project, manifestErrors, sessionError, warnings, root, base } = this.context
    // Recipes in the order the manifest lists them; the jobs of an `each` recipe by id.
    const order = new Map(Object.keys(session?.manifest?.manifest?.recipes ?? {}).map((recipe, index) => [recipe, index]))
    const views = (session?.jobs() ?? []).sort((a, b) => (order.get(a.recipe) ?? 0) - (order.get(b.recipe) ?? 0) || (a.id < b.id ? -1 : 1))
    return panelState(views, {
      manifest: project ? displayPath(project.manifestPath, root) : 'images.edit.yaml',
      ...(manifestErrors ? { manifestErrors: formatDiagnostics(manifestErrors, root) } : {}),
      ...(sessionError ? { error: sessionError } : {}),
      warnings,
      imageUrl: (view, index) => this.modules.imageUrl(view, index),
      fileUrl: (path) => `${base}${PANEL_PREFIX.slice(1)}file/${encodeURIComponent(path)}`,
      takes: (view) => this.takes.of(view.id),
      takeImageUrl: (sha256) => `${base}${PANEL_PREFIX.slice(1)}take-image/${sha256}`,
    })
  }

  /** Opens a stream: the state at once, then a frame after every change. */
  open(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' })
    response.write(this.frame())
    this.clients.add(response)
    request.on('close', () => this.clients.delete(response))
    if (!this.pingTimer) {
      this.pingTimer = setInterval(() => {
        for (const client of this.clients) client.write(': ping\n\n')
      }, PING_INTERVAL_MS)
      this.pingTimer.unref()
    }
  }

  /** Sends the new state to every open stream, at most one frame per {@link PUSH_THROTTLE_MS}. */
  push(): void {
    if (this.clients.size === 0 || this.pushTimer) return
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined
      const frame = this.frame()
      for (const client of this.clients) client.write(frame)
    }, PUSH_THROTTLE_MS)
  }

  /** Ends every stream. */
  close(): void {
    clearTimeout(this.pushTimer)
    clearInterval(this.pingTimer)
    for (const client of this.clients) client.end()
    this.clients.clear()
  }

  private frame(): string {
    return `event: state\ndata: ${JSON.stringify(this.state())}\n\n`
  }
}
