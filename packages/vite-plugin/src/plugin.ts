import { basename, resolve } from 'node:path'
import { MANIFEST_NAME, ManifestError, openProject, type Project } from '@images-edit/core'
import type { Plugin, ResolvedConfig, ViteDevServer } from 'vite'
import { type BuiltImages, buildImages, jobsNamed, outputsOf } from './build-images.js'
import { DevServerBridge, PANEL_PREFIX } from './dev-server.js'
import { dtsPath, renderDts, writeDts } from './dts.js'
import { describeError, locationOf, TAG } from './messages.js'
import type { ImagesEditPluginOptions } from './types.js'
import { IMPORT_PREFIX, idOfModule, type ModuleImage, RESOLVED_PREFIX, renderModule } from './virtual-module.js'

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
  // One engine build per `vite build`, however many environments ask (Map<id, Promise>, as imagetools does).
  const builds = new Map<string, Promise<BuiltImages>>()
  // One emitted asset per output file, environment and build, however many imports reference it.
  const emitted = new Map<string, Map<string, string>>()
  let current: BuiltImages | undefined
  // One bridge per dev server: Vite creates the new server before closing the old one on restart,
  // and frameworks start servers of their own beside the one a person browses.
  const bridges = new WeakMap<ResolvedConfig, DevServerBridge>()
  // This plugin instance already took part in a `vite build`: a server started after that is the build's.
  let sawBuild = false

  const manifestPath = () => resolve(config.root, options.manifest ?? MANIFEST_NAME)
  const open = (): Promise<Project> =>
    openProject({
      manifest: manifestPath(),
      cwd: config.root,
      ...(options.provider ? { providerOverride: options.provider } : {}),
      ...(options.providers ? { providers: options.providers } : {}),
      ...(options.env ? { env: options.env } : {}),
    })

  /** One engine build per manifest at a time, whoever asks first (each environment of a `vite build`). */
  const buildOnce = (): Promise<BuiltImages> => {
    const key = manifestPath()
    let pending = builds.get(key)
    if (!pending) {
      pending = (async () => {
        const project = await open()
        try {
          // Only an explicit option is passed: core decides frozen (CI) for every way the plugin runs.
          const built = await buildImages(project, { frozen: options.frozen, log: config.logger, root: config.root })
          const dts = dtsPath(options.dts, config.root)
          if (dts) await writeDts(dts, renderDts(built.jobs, basename(project.manifestPath)))
          return built
        } finally {
          await project.close()
        }
      })()
      builds.set(key, pending)
      // Settled builds are forgotten, so `vite build --watch` runs the plan again on its next round.
      const forget = () => builds.delete(key)
      pending.then(forget, forget)
    }
    return pending
  }

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
      if (config.command !== 'build') return
      emitted.set(this.environment.name, new Map())
      const key = manifestPath()
      let built: BuiltImages
      try {
        built = await buildOnce()
        current = built
      } catch (error) {
        const loc = error instanceof ManifestError ? locationOf(error.diagnostics) : undefined
        // A user's mistake, not a bug: no stack trace, just what to fix and where.
        this.error({ message: `${TAG} ${describeError(error, config.root)}`, id: key, stack: '', ...(loc ? { loc } : {}) })
      }
      this.addWatchFile(key)
      for (const job of built.jobs)
        for (const input of [...job.refs, ...(job.mask ? [job.mask] : [])]) if (input.input.kind === 'file') this.addWatchFile(input.input.path)
    },

    async load(id) {
      const name = idOfModule(id)
      if (name === undefined) return undefined
      const own = this.environment?.getTopLevelConfig?.() ?? config
      if (own.command === 'serve') {
        const bridge = bridges.get(own) ?? dev
        if (!bridge) this.error(`${TAG} ${IMPORT_PREFIX}${name} was loaded before the dev server started`)
        return bridge.moduleCode(id)
      }
      if (!current) this.error(`${TAG} ${IMPORT_PREFIX}${name}: the images were not built (buildStart did not run)`)
      const built = current
      const jobs = jobsNamed(built.jobs, name)
      if (jobs.length === 0) {
        const recipes = [...new Set(built.jobs.map((job) => job.recipe))]
        this.error(`${TAG} no recipe or job "${name}" in ${basename(manifestPath())}. Recipes: ${recipes.join(', ') || '(none)'}.`)
      }
      const references = emitted.get(this.environment.name) ?? new Map<string, string>()
      emitted.set(this.environment.name, references)
      const images: ModuleImage[] = []
      for (const job of jobs) {
        for (const output of await outputsOf(built, job)) {
          let reference = references.get(output.absolute)
          if (!reference) {
            reference = this.emitFile({ type: 'asset', name: basename(output.path), originalFileName: output.absolute, source: output.bytes })
            references.set(output.absolute, reference)
          }
          images.push({
            srcExpression: `import.meta.ROLLUP_FILE_URL_${reference}`,
            width: output.width,
            height: output.height,
            format: output.format,
            job: job.id,
            placeholder: false,
          })
        }
      }
      return renderModule(name, images, { hot: false })
    },

    configureServer(server) {
      // A server a framework or test runner starts for itself (Astro's build does, before the real
      // build) gets a frozen session that starts at its first import: restores and placeholders,
      // never a paid call behind the build's back, no watcher, no panel.
      const internal = sawBuild || isBuildInternal(server)
      const bridge = new DevServerBridge(server, {
        openProject: open,
        frozen: internal ? true : options.frozen,
        dts: internal ? undefined : options.dts,
        panel: !internal && (options.panel ?? true),
        lazy: internal,
      })
      bridges.set(server.config, bridge)
      if (!internal) dev = bridge
      const close = server.close.bind(server)
      server.close = async () => {
        bridges.delete(server.config)
        if (dev === bridge) dev = undefined
        await bridge.close()
        return close()
      }
      server.middlewares.use(bridge.middleware)
      if (!internal && (options.panel ?? true)) {
        let printed = false
        const printPanel = (url: string | undefined) => {
          if (printed || !url) return
          printed = true
          config.logger.info(`  ➜  images-edit panel: ${new URL(PANEL_PREFIX.slice(1), url).href}`)
        }
        const printUrls = server.printUrls.bind(server)
        server.printUrls = () => {
          printUrls()
          printPanel(server.resolvedUrls?.local[0])
        }
        // Frameworks that print their own banner (Astro) never call printUrls: say it once listening,
        // after their banner.
        server.httpServer?.once('listening', () => {
          setTimeout(() => {
            const address = server.httpServer?.address()
            if (!address || typeof address !== 'object') return
            const host = address.family === 'IPv6' || address.family === (6 as unknown as string) ? `[${address.address}]` : address.address
            const reachable = host === '0.0.0.0' || host === '[::]' ? 'localhost' : host
            printPanel(server.resolvedUrls?.local[0] ?? `http://${reachable}:${address.port}${server.config.base}`)
          }, 250).unref()
        })
      }
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
