import { imageDimensions, type JobView } from '@images-edit/core'
import { type DevContext, IMAGE_PREFIX } from './dev-context.js'
import { describeError, formatDiagnostics, TAG } from './messages.js'
import { idOfModule, type ModuleImage, renderModule } from './virtual-module.js'

const EXTENSIONS: Record<string, string> = { png: 'png', jpeg: 'jpg', webp: 'webp' }

/**
 * The code of `images-edit:<id>` in dev, as the session stands now: real image URLs for what is
 * ready, placeholders for the rest. Remembers what it served, so HMR knows which modules changed.
 */
export class DevModules {
  /** Code last served per loaded virtual module (resolved id → code). */
  readonly served = new Map<string, string>()
  private readonly sizes = new Map<string, Promise<{ width: number; height: number }>>()

  constructor(private readonly context: DevContext) {}

  /** The module code of `images-edit:<id>` as it stands now (placeholders for what is not ready). */
  async moduleCode(resolvedId: string): Promise<string> {
    const { context } = this
    const id = idOfModule(resolvedId) as string
    try {
      await context.whenStarted()
    } catch {
      context.failedLoads = true
      throw new Error(describeError(context.startError, context.root))
    }
    const views = this.viewsFor(id)
    if (views.length === 0) {
      context.failedLoads = true
      throw new Error(this.unknownModule(id))
    }
    const code = await this.render(id, views)
    this.served.set(resolvedId, code)
    return code
  }

  /** The job views an import names: every job of a recipe, or one job by its id. */
  viewsFor(id: string): JobView[] {
    const { session } = this.context
    if (!session) return []
    const ofRecipe = session.recipeJobs(id)
    if (ofRecipe.length > 0) return ofRecipe
    return session.jobs().filter((job) => job.id === id)
  }

  /** The module's code for these views; a failed or blocked job shows as the module's error. */
  async render(id: string, views: readonly JobView[]): Promise<string> {
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
    return `${this.context.base}${IMAGE_PREFIX.slice(1)}${encodeURIComponent(view.id)}/${index}.${EXTENSIONS[format]}?v=${version}`
  }

  /** Why an import names nothing: the manifest is broken, or it has no such recipe or job. */
  private unknownModule(id: string): string {
    const { session, manifestErrors, root } = this.context
    if (!session?.manifest && manifestErrors) return formatDiagnostics(manifestErrors, root)
    const recipes = [...new Set(session?.jobs().map((job) => job.recipe))]
    return `${TAG} no recipe or job "${id}" in the manifest. Recipes: ${recipes.join(', ') || '(none)'}.`
  }

  /** `ratio: auto` has no size before the provider answers; the placeholder's own size stands in. */
  private placeholderSize(view: JobView, index: number): Promise<{ width: number; height: number }> {
    const cacheKey = `${view.key}:${index}`
    let pending = this.sizes.get(cacheKey)
    if (!pending) {
      const session = this.context.session
      if (!session) return Promise.resolve({ width: 0, height: 0 })
      pending = session.placeholder(view.id, index).then((bytes) => {
        const size = imageDimensions(bytes)
        return { width: size?.width ?? 0, height: size?.height ?? 0 }
      })
      this.sizes.set(cacheKey, pending)
    }
    return pending
  }
}
