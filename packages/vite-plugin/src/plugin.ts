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
  // A Vite server a framework starts inside its own build (Astro's build does): it gets the build's
  // images, never a dev session that would generate behind the build's back.
  let internalServer = false
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

  /** One engine build per manifest at a time, whoever asks first (each environment, a framework's internal server). */
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
      if (config.command === 'serve' && !internalServer) {
        if (!dev) this.error(`${TAG} ${IMPORT_PREFIX}${name} was loaded before the dev server started`)
        return dev.moduleCode(id)
      }
      let built: BuiltImages
      if (config.command === 'serve') {
        // Inside a framework's build: the build's own images (frozen in CI), served from their files.
        try {
          built = await buildOnce()
        } catch (error) {
          this.error({ message: `${TAG} ${describeError(error, config.root)}`, stack: '' })
        }
      } else {
        if (!current) this.error(`${TAG} ${IMPORT_PREFIX}${name}: the images were not built (buildStart did not run)`)
        built = current
      }
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
          let srcExpression: string
          if (config.command === 'serve') srcExpression = JSON.stringify(`${config.base}@fs${output.absolute}`)
          else {
            let reference = references.get(output.absolute)
            if (!reference) {
              reference = this.emitFile({ type: 'asset', name: basename(output.path), originalFileName: output.absolute, source: output.bytes })
              references.set(output.absolute, reference)
            }
            srcExpression = `import.meta.ROLLUP_FILE_URL_${reference}`
          }
          images.push({ srcExpression, width: output.width, height: output.height, format: output.format, job: job.id, placeholder: false })
        }
      }
      return renderModule(name, images, { hot: false })
    },

    configureServer(server) {
      if (sawBuild || isBuildInternal(server)) {
        internalServer = true
        return
      }
      dev = new DevServerBridge(server, {
        openProject: open,
        frozen: options.frozen,
        dts: options.dts,
        panel: options.panel ?? true,
      })
      server.middlewares.use(dev.middleware)
      if (options.panel ?? true) {
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
        // Frameworks that print their own banner (Astro) never call printUrls: say it once listening.
        server.httpServer?.once('listening', () => {
          setTimeout(() => {
            const address = server.httpServer?.address()
            if (address && typeof address === 'object') printPanel(server.resolvedUrls?.local[0] ?? `http://localhost:${address.port}${config.base}`)
          }, 250)
        })
      }
    },

    async closeBundle() {
      const bridge = dev
      dev = undefined
      await bridge?.close()
    },
  }
}

/**
 * Whether a dev server is one a framework starts inside its build, not one a person browses: Astro's
 * build runs a middleware-mode server in production mode with HMR off. Such a server must never start
 * a dev session (which generates what is missing); a real `vite dev` (even in middleware mode behind
 * a framework's own HTTP server) keeps HMR on.
 */
export function isBuildInternal(server: ViteDevServer): boolean {
  return server.config.isProduction || server.config.server.hmr === false
}
