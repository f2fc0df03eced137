import type { DevContext } from './dev-context.js'
import type { DevModules } from './dev-modules.js'
import { idOfModule } from './virtual-module.js'

/** Job events come in bursts: one pass over the loaded modules per burst. */
const HMR_DEBOUNCE_MS = 25
/** Several images of a server-rendered page becoming ready in a burst reload the page once. */
const RELOAD_THROTTLE_MS = 400

/**
 * Hot updates when a module's images change: every loaded `images-edit:` module is rendered again,
 * and those whose code changed are invalidated and reloaded in the client. A module only
 * server-side code imports has no client module to swap: the page is reloaded instead.
 */
export class DevHmr {
  private timer: NodeJS.Timeout | undefined
  private reloadTimer: NodeJS.Timeout | undefined
  private chain: Promise<void> = Promise.resolve()

  constructor(
    private readonly context: DevContext,
    private readonly modules: DevModules,
  ) {}

  /** Re-renders every loaded module soon; those whose code changed are invalidated and hot-updated. */
  schedule(): void {
    clearTimeout(this.timer)
    // One pass at a time: a pass started while another awaits would compare against the same old code.
    this.timer = setTimeout(() => {
      this.chain = this.chain.then(() => this.hotUpdate()).catch(() => {})
    }, HMR_DEBOUNCE_MS)
  }

  close(): void {
    clearTimeout(this.timer)
    clearTimeout(this.reloadTimer)
  }

  /** A page reload for modules only server code imports, at most one per {@link RELOAD_THROTTLE_MS}. */
  private scheduleReload(): void {
    if (this.reloadTimer) return
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined
      if (!this.context.closed) this.context.server.hot.send({ type: 'full-reload', path: '*' })
    }, RELOAD_THROTTLE_MS)
  }

  private async hotUpdate(): Promise<void> {
    if (this.context.closed) return
    // A module only server-side code imports (an Astro page's frontmatter, an SSR-only route) has no
    // client module to swap: the page must be rendered again.
    let serverOnly = false
    for (const [resolvedId, before] of [...this.modules.served]) {
      const id = idOfModule(resolvedId) as string
      const views = this.modules.viewsFor(id)
      const after = views.length > 0 ? await this.modules.render(id, views) : undefined
      if (after === before) continue
      const { found, inClient, hasImporters } = await this.invalidate(resolvedId)
      if (found && !inClient && hasImporters) serverOnly = true
      if (found && after !== undefined) this.modules.served.set(resolvedId, after)
      else this.modules.served.delete(resolvedId)
    }
    if (serverOnly) this.scheduleReload()
  }

  /** Invalidates a module in every environment that loaded it, and reloads it in the client's. */
  private async invalidate(resolvedId: string): Promise<{ found: boolean; inClient: boolean; hasImporters: boolean }> {
    let found = false
    let inClient = false
    let hasImporters = false
    for (const environment of Object.values(this.context.server.environments)) {
      const module = environment.moduleGraph.getModuleById(resolvedId)
      if (!module) continue
      found = true
      // A module no page imports any more (its import was removed) reloads nothing.
      if (module.importers.size > 0) hasImporters = true
      environment.moduleGraph.invalidateModule(module)
      if (environment.name === 'client') {
        inClient = true
        await environment.reloadModule(module)
      }
    }
    return { found, inClient, hasImporters }
  }
}
