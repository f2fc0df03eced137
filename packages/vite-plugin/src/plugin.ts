import type { Plugin, ResolvedConfig, ViteDevServer } from 'vite'
import { DevServerBridge } from './dev-server.js'
import { announcePanel, attachBridge } from './dev-server-hooks.js'
import { TAG } from './messages.js'
import { projectAccess } from './project-access.js'
import type { ImagesEditPluginOptions } from './types.js'
import { IMPORT_PREFIX, idOfModule, RESOLVED_PREFIX } from './virtual-module.js'
import { ViteBuild } from './vite-build.js'

/** What the plugin exposes to other plugins and tests as `plugin.api`. */
export interface ImagesEditPluginApi {
  /** Resolves when no job is running in the dev server (immediately outside dev). */
  idle(): Promise<void>
  /** The dev server's bridge, while one runs. */
  readonly dev: DevServerBridge | undefined
}

/**
 * The images-edit Vite plugin: `images-edit:<recipe>` imports, hashed assets in `vite build`,
 * placeholders and HMR in `vite dev`, and the dev panel at `/__images-edit/`.
 *
 * @example
 * ```ts
 * // vite.config.ts
 * import imagesEdit from 'vite-plugin-images-edit'
 * export default defineConfig({ plugins: [imagesEdit()] })
 *
 * // src/main.ts
 * /// <reference types="vite-plugin-images-edit/client" />
 * import hero from 'images-edit:hero'
 * document.querySelector('img')!.src = hero.src
 * ```
 */
export default function imagesEdit(options: ImagesEditPluginOptions = {}): Plugin<ImagesEditPluginApi> {
  let config: ResolvedConfig
  let dev: DevServerBridge | undefined
  // One bridge per dev server: Vite creates the new server before closing the old one on restart,
  // and frameworks start servers of their own beside the one a person browses.
  const bridges = new WeakMap<ResolvedConfig, DevServerBridge>()
  // This plugin instance already took part in a `vite build`: a server started after that is the build's.
  let sawBuild = false

  const access = projectAccess(options, () => config)
  const build = new ViteBuild(options, access)

  return {
    name: 'images-edit',
    api: {
      idle: async () => {
        await dev?.idle()
      },
      get dev() {
        return dev
      },
    },

    config() {
      // The store churns while jobs run; nothing in it is a module.
      return { server: { watch: { ignored: ['**/.images-edit/**'] } } }
    },

    configResolved(resolved) {
      config = resolved
      if (resolved.command === 'build') sawBuild = true
    },

    resolveId(source) {
      if (source.startsWith(IMPORT_PREFIX)) return RESOLVED_PREFIX + source.slice(IMPORT_PREFIX.length)
      return undefined
    },

    async buildStart() {
      if (config.command === 'build') await build.start(this)
    },

    async load(id) {
      const name = idOfModule(id)
      if (name === undefined) return undefined
      const own = this.environment?.getTopLevelConfig?.() ?? config
      if (own.command !== 'serve') return build.load(this, name)
      const bridge = bridges.get(own) ?? dev
      if (!bridge) this.error(`${TAG} ${IMPORT_PREFIX}${name} was loaded before the dev server started`)
      return bridge.moduleCode(id)
    },

    configureServer(server) {
      // A server a framework or test runner starts for itself (Astro's build does, before the real
      // build) gets a frozen session that starts at its first import: restores and placeholders,
      // never a paid call behind the build's back, no watcher, no panel.
      const internal = sawBuild || isBuildInternal(server)
      const panel = !internal && (options.panel ?? true)
      const bridge = new DevServerBridge(server, {
        openProject: access.open,
        frozen: internal ? true : options.frozen,
        dts: internal ? undefined : options.dts,
        panel,
        lazy: internal,
      })
      bridges.set(server.config, bridge)
      if (!internal) dev = bridge
      attachBridge(server, bridge, () => {
        bridges.delete(server.config)
        if (dev === bridge) dev = undefined
      })
      if (panel) announcePanel(server, config.logger)
    },
  }
}

/**
 * Whether a dev server is one a framework or a test runner starts for itself, not one a person
 * browses: Astro's build runs a production-mode server with HMR off before the real build, and
 * Vitest's server runs in mode `test`. Such a server never generates (see `configureServer`). A real
 * `vite dev` — even in middleware mode behind a framework's own HTTP server, or with HMR turned off
 * — is not one.
 */
export function isBuildInternal(server: ViteDevServer): boolean {
  const { config } = server
  return ((config.isProduction || config.mode === 'production') && config.server.hmr === false) || config.mode === 'test'
}
