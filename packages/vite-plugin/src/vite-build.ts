import { basename } from 'node:path'
import { ImagesEditError, ManifestError } from '@images-edit/core'
import { type BuiltImages, buildImages, jobsNamed, outputsOf } from './build-images.js'
import { dtsPath, renderDts, writeDts } from './dts.js'
import { describeError, locationOf, TAG } from './messages.js'
import type { ProjectAccess } from './project-access.js'
import type { ImagesEditPluginOptions } from './types.js'
import { IMPORT_PREFIX, type ModuleImage, renderModule } from './virtual-module.js'

/** What the build side needs of the plugin context Vite passes to a hook as `this`. */
export interface BuildHookContext {
  readonly environment: { readonly name: string }
  error(error: string | { message: string; id?: string; stack?: string; pluginCode?: string; loc?: { file?: string; line: number; column: number } }): never
  addWatchFile(id: string): void
  emitFile(file: { type: 'asset'; name: string; originalFileName: string; source: Uint8Array }): string
}

/**
 * The plugin's side of `vite build`: one engine build per manifest however many environments ask,
 * and `images-edit:<id>` modules whose images are emitted as hashed assets.
 */
export class ViteBuild {
  // One engine build per `vite build`, however many environments ask (Map<id, Promise>, as imagetools does).
  private readonly builds = new Map<string, Promise<BuiltImages>>()
  // One emitted asset per output file, environment and build, however many imports reference it.
  private readonly emitted = new Map<string, Map<string, string>>()
  private current: BuiltImages | undefined

  constructor(
    private readonly options: ImagesEditPluginOptions,
    private readonly access: ProjectAccess,
  ) {}

  /** `buildStart`: runs the engine's build (once for all environments) and watches its inputs. */
  async start(hook: BuildHookContext): Promise<void> {
    const config = this.access.config()
    this.emitted.set(hook.environment.name, new Map())
    const key = this.access.manifestPath()
    let built: BuiltImages
    try {
      built = await this.buildOnce()
      this.current = built
    } catch (error) {
      const loc = error instanceof ManifestError ? locationOf(error.diagnostics) : undefined
      // A user's mistake, not a bug: no stack trace, just what to fix and where.
      // The engine's code (FROZEN, REMOTE, MANIFEST_INVALID…) as Rollup's plugin-specific code, for scripts telling refusals apart.
      const pluginCode = ImagesEditError.is(error) ? error.code : undefined
      hook.error({ message: `${TAG} ${describeError(error, config.root)}`, id: key, stack: '', ...(pluginCode ? { pluginCode } : {}), ...(loc ? { loc } : {}) })
    }
    // The manifest and every ref and mask, as core lists them.
    for (const file of built.inputs) hook.addWatchFile(file)
  }

  /** `load` in a build: the module of `images-edit:<name>`, its images emitted as assets. */
  async load(hook: BuildHookContext, name: string): Promise<string> {
    if (!this.current) hook.error(`${TAG} ${IMPORT_PREFIX}${name}: the images were not built (buildStart did not run)`)
    const built = this.current
    const jobs = jobsNamed(built.jobs, name)
    if (jobs.length === 0) {
      const recipes = [...new Set(built.jobs.map((job) => job.recipe))]
      hook.error(`${TAG} no recipe or job "${name}" in ${basename(this.access.manifestPath())}. Recipes: ${recipes.join(', ') || '(none)'}.`)
    }
    const references = this.emitted.get(hook.environment.name) ?? new Map<string, string>()
    this.emitted.set(hook.environment.name, references)
    const images: ModuleImage[] = []
    for (const job of jobs) {
      for (const output of await outputsOf(built, job)) {
        let reference = references.get(output.absolute)
        if (!reference) {
          reference = hook.emitFile({ type: 'asset', name: basename(output.path), originalFileName: output.absolute, source: output.bytes })
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
  }

  /** One engine build per manifest at a time, whoever asks first (each environment of a `vite build`). */
  private buildOnce(): Promise<BuiltImages> {
    const key = this.access.manifestPath()
    let pending = this.builds.get(key)
    if (!pending) {
      pending = this.buildNow()
      this.builds.set(key, pending)
      // Settled builds are forgotten, so `vite build --watch` runs the plan again on its next round.
      const forget = () => this.builds.delete(key)
      pending.then(forget, forget)
    }
    return pending
  }

  private async buildNow(): Promise<BuiltImages> {
    const config = this.access.config()
    const project = await this.access.open()
    try {
      // Only an explicit option is passed: core decides frozen (CI) for every way the plugin runs.
      const built = await buildImages(project, { frozen: this.options.frozen, log: config.logger, root: config.root })
      const dts = dtsPath(this.options.dts, config.root)
      if (dts) await writeDts(dts, renderDts(built.jobs, basename(project.manifestPath)))
      return built
    } finally {
      await project.close()
    }
  }
}
