import { basename } from 'node:path'
import { DevSession, type JobView, type SessionEvent } from '@images-edit/core'
import type { ViteDevServer } from 'vite'
import { CLOSE_GRACE_MS, DevContext, type DevOptions } from './dev-context.js'
import { DevHmr } from './dev-hmr.js'
import { devMiddleware, type Middleware } from './dev-middleware.js'
import { DevModules } from './dev-modules.js'
import { DevReporter } from './dev-reporter.js'
import { dtsPath, renderDts, writeDts } from './dts.js'
import { InputRefresh } from './input-refresh.js'
import { displayPath, TAG } from './messages.js'
import { PanelStream } from './panel-stream.js'
import { PanelTakes } from './panel-takes.js'

export { CLOSE_GRACE_MS, type DevOptions, IMAGE_PREFIX, PANEL_PREFIX } from './dev-context.js'

/**
 * The dev-server side of the plugin: one {@link DevSession} (the engine decides what runs), Vite's
 * watcher feeding it (`input-refresh.ts`), a middleware serving images and placeholders
 * (`dev-middleware.ts`), HMR when a module's images change (`dev-modules.ts`, `dev-hmr.ts`), the
 * overlay and the terminal for errors (`dev-reporter.ts`), and the panel (`panel-stream.ts`). It
 * never waits for a provider.
 */
export class DevServerBridge {
  private readonly context: DevContext
  private readonly modules: DevModules
  private readonly hmr: DevHmr
  private readonly inputs: InputRefresh
  private readonly reporter: DevReporter
  private readonly panel: PanelStream
  private readonly takes: PanelTakes
  private started: Promise<void> | undefined
  /** Connect middleware: images, placeholders and the panel. Anything else goes to Vite. */
  readonly middleware: Middleware

  constructor(server: ViteDevServer, options: DevOptions) {
    this.context = new DevContext(server, options)
    this.context.whenStarted = () => this.ready
    this.modules = new DevModules(this.context)
    this.hmr = new DevHmr(this.context, this.modules)
    this.inputs = new InputRefresh(this.context)
    this.reporter = new DevReporter(this.context)
    this.takes = new PanelTakes(this.context, () => this.panel.push())
    this.panel = new PanelStream(this.context, this.modules, this.takes)
    this.middleware = devMiddleware(this.context, this.panel, this.takes)
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

  /** Waits for every running job (tests; a build right after dev). */
  async idle(): Promise<void> {
    await this.started?.catch(() => {})
    await this.context.session?.idle()
  }

  /** The engine session (other plugins may read job views from it). */
  get devSession(): DevSession | undefined {
    return this.context.session
  }

  /** The module code of `images-edit:<id>` as it stands now (placeholders for what is not ready). */
  moduleCode(resolvedId: string): Promise<string> {
    return this.modules.moduleCode(resolvedId)
  }

  /** A job's image URL, versioned by content (or by key for a placeholder) so browsers never show a stale one. */
  imageUrl(view: JobView, index: number): string {
    return this.modules.imageUrl(view, index)
  }

  /** Stops: running provider calls are cancelled (their task ids stay journaled; the next start resumes them). */
  async close(): Promise<void> {
    const { context } = this
    if (context.closed) return
    context.closed = true
    this.inputs.close()
    this.hmr.close()
    this.panel.close()
    this.takes.close()
    await this.started?.catch(() => {})
    // Paid calls already sent are answered (their task ids journaled, their results kept) for up
    // to CLOSE_GRACE_MS; only then are they abandoned.
    await context.session?.close({ abort: true, abandonAfterMs: CLOSE_GRACE_MS })
  }

  private async start(): Promise<void> {
    const { context } = this
    try {
      context.project = await context.options.openProject()
    } catch (error) {
      this.reporter.startFailed(error)
      this.panel.push()
      throw error
    }
    context.session = new DevSession(context.project, {
      onEvent: (event) => this.onEvent(event),
      ...(context.options.frozen !== undefined ? { frozen: context.options.frozen } : {}),
    })
    if (!context.options.lazy) this.inputs.listen()
    await this.inputs.refresh()
    this.reporter.started(context.session.jobs())
  }

  /** Every engine event: the terminal and overlay, generated types, HMR, the panel. */
  private onEvent(event: SessionEvent): void {
    this.reporter.report(event)
    if (event.type === 'manifest:ok') void this.writeTypes()
    if (event.type === 'job') this.hmr.schedule()
    if (this.context.options.panel) this.takes.onEvent(event)
    this.panel.push()
  }

  private async writeTypes(): Promise<void> {
    const { options, root, session, logger } = this.context
    const path = dtsPath(options.dts, root)
    const manifest = session?.manifest
    if (!path || !manifest) return
    try {
      if (await writeDts(path, renderDts(manifest.jobs, basename(manifest.file)))) {
        logger.info(`${TAG} wrote ${displayPath(path, root)}`, { timestamp: true })
      }
    } catch (error) {
      logger.warn(`${TAG} could not write ${path}: ${(error as Error).message}`)
    }
  }
}
