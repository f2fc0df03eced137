import type { Diagnostic } from '../diagnostics.js'
import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { Plan, PlannedJob } from '../plan/plan.js'
import type { BuildResult, Project } from '../project.js'
import type { RunEvent } from '../run/events.js'
import { type JobView, nextView, readyImages, viewChange } from './job-view.js'
import { Placeholders } from './placeholders.js'
import { WatchedInputs, type WatchedPaths } from './watched-inputs.js'

/** Why a job that needs generating waits in a frozen session. */
const FROZEN_REASON =
  'frozen (CI is set, or frozen was asked for): nothing is generated here. Build it where paying is intended (images-edit build --no-frozen, or imagesEdit({ frozen: false }) in Vite), then commit the lock and the outputs'

export type { JobPhase, JobView, ReadyImage } from './job-view.js'

/** What a session reports. */
export type SessionEvent =
  | { type: 'manifest:error'; diagnostics: Diagnostic[] }
  | { type: 'manifest:ok'; jobs: number; warnings: Diagnostic[] }
  | { type: 'job'; job: JobView }
  | { type: 'run'; event: RunEvent }
  | { type: 'build:done'; result: BuildResult }
  | { type: 'error'; message: string }

/** Options of {@link DevSession}. */
export interface DevSessionOptions {
  onEvent?: (event: SessionEvent) => void
  /** Refuse to generate; restores still run. @default frozen exactly when `CI` is set (`resolveFrozen`) */
  frozen?: boolean
  /** Only these recipe or job ids. */
  only?: readonly string[]
}

/**
 * The engine side of `images-edit watch` and the Vite dev server: reload the manifest on demand,
 * keep the last good one when an edit breaks it, rerun exactly the jobs whose key changed, never
 * block on the API, and keep every paid job that is already in flight running to the end (its
 * result lands in the store for when that key comes back). Watchers and servers are the
 * adapters' business; this class only decides what runs.
 */
export class DevSession {
  private loaded: LoadedManifest | undefined
  private readonly inputs: WatchedInputs
  private readonly views = new Map<string, JobView>()
  /** Job id → key being built right now (possibly several keys over time). */
  private readonly building = new Map<string, Set<string>>()
  private readonly builds = new Set<Promise<unknown>>()
  private refreshing: Promise<unknown> = Promise.resolve()
  private readonly controller = new AbortController()
  /** Abandons paid calls in flight (a second Ctrl-C, or a close that may not wait any longer). */
  private readonly abandonController = new AbortController()
  private readonly placeholders = new Placeholders(this.controller.signal)
  private closed = false

  constructor(
    readonly project: Project,
    private readonly options: DevSessionOptions = {},
  ) {
    this.inputs = new WatchedInputs(project)
  }

  /** The last manifest that validated, if any. */
  get manifest(): LoadedManifest | undefined {
    return this.loaded
  }

  /** Every job of the last good manifest, in id order. */
  jobs(): JobView[] {
    return [...this.views.values()].sort((a, b) => (a.id < b.id ? -1 : 1))
  }

  /** One job, by job id or (for a recipe with one job) recipe id. */
  job(id: string): JobView | undefined {
    return this.views.get(id) ?? this.jobs().find((view) => view.recipe === id)
  }

  /** Jobs of a recipe (several for `each`). */
  recipeJobs(recipe: string): JobView[] {
    return this.jobs().filter((view) => view.recipe === recipe)
  }

  /** Paths to watch: the manifest, every ref and mask file, and the folders `each` globs look in (absolute). */
  watchList(): WatchedPaths {
    return this.inputs.update(this.loaded)
  }

  /** Whether images-edit itself writes this path (lock, store, temporary file, output): a watcher ignores it. */
  isOwnWrite(path: string): boolean {
    return this.inputs.isOwnWrite(path)
  }

  /** Whether a change to this path can change a build (an input of the last good manifest, never an own write). */
  isInput(path: string): boolean {
    return this.inputs.isInput(path)
  }

  /**
   * Reloads the manifest and starts building every stale job that is not already being built
   * with the same key. Resolves once planning is done (never waits for a provider). Calls are
   * serialized: a burst of file events makes one refresh after another, not overlapping ones.
   */
  refresh(): Promise<{ ok: boolean; started: string[] }> {
    const next = this.refreshing.then(() => this.refreshNow())
    this.refreshing = next.catch(() => {})
    return next
  }

  private async refreshNow(): Promise<{ ok: boolean; started: string[] }> {
    if (this.closed) return { ok: false, started: [] }
    let loaded: LoadedManifest
    try {
      loaded = await this.project.load()
    } catch (error) {
      this.emit({ type: 'error', message: ImagesEditError.is(error) ? error.message : String(error) })
      return { ok: false, started: [] }
    }
    const errors = loaded.diagnostics.filter((item) => item.severity === 'error')
    if (errors.length > 0) {
      // Keep the last good state: outputs, views and running jobs stay as they are.
      this.emit({ type: 'manifest:error', diagnostics: loaded.diagnostics })
      return { ok: false, started: [] }
    }
    this.loaded = loaded
    this.emit({ type: 'manifest:ok', jobs: loaded.jobs.length, warnings: loaded.diagnostics })

    const only = this.options.only ?? []
    const frozen = this.project.frozen(this.options.frozen)
    const { plan } = await this.planFrom(loaded, only, frozen)
    const current = new Set(plan.jobs.map((item) => item.job.id))
    for (const id of [...this.views.keys()]) if (!current.has(id)) this.views.delete(id)

    const toBuild: PlannedJob[] = []
    for (const item of plan.jobs) {
      const keys = this.building.get(item.job.id)
      if (item.status === 'fresh') {
        this.update(item.job, { phase: 'ready', reasons: item.reasons, images: readyImages(item.job, item.available) })
      } else if (item.status === 'blocked') {
        this.update(item.job, { phase: 'blocked', reasons: item.reasons, images: [] })
      } else if (item.status === 'generate' && frozen) {
        // Frozen (CI, or asked for): what needs paying for stays a placeholder; restores still run.
        this.update(item.job, { phase: 'blocked', reasons: [...item.reasons, FROZEN_REASON], images: [] })
      } else if (keys?.has(item.job.key)) {
        // Already being made with exactly these inputs: nothing to start.
        this.update(item.job, { reasons: item.reasons })
      } else {
        toBuild.push(item)
        this.update(item.job, { phase: 'queued', reasons: item.reasons, images: [], stage: item.status === 'restore' ? 'restoring' : 'queued' })
      }
    }
    if (toBuild.length > 0) this.startBuild(loaded, toBuild)
    return { ok: true, started: toBuild.map((item) => item.job.id) }
  }

  /**
   * The plan of a refresh. Frozen (a CI dev server, `watch` in CI), nothing is built for jobs that
   * need generating, so what the team store has is fetched first and restored instead of left a
   * placeholder; a team store that cannot be asked is reported and leaves them placeholders.
   * Unfrozen, the build of those jobs reads through the team store itself before paying.
   */
  private async planFrom(loaded: LoadedManifest, only: readonly string[], frozen: boolean): Promise<{ plan: Plan }> {
    if (!frozen) return this.project.plan({ loaded, only })
    try {
      return await this.project.plan({ loaded, only, readThrough: true })
    } catch (error) {
      if (!(ImagesEditError.is(error) && error.code === 'REMOTE')) throw error
      this.emit({ type: 'error', message: error.message })
      return this.project.plan({ loaded, only })
    }
  }

  private startBuild(loaded: LoadedManifest, items: PlannedJob[]): void {
    const keys = new Map(items.map((item) => [item.job.id, item.job.key]))
    for (const item of items) {
      const keys = this.building.get(item.job.id) ?? new Set<string>()
      keys.add(item.job.key)
      this.building.set(item.job.id, keys)
    }
    const build = this.project
      .build({
        loaded,
        only: items.map((item) => item.job.id),
        frozen: this.project.frozen(this.options.frozen),
        signal: this.controller.signal,
        abandon: this.abandonController.signal,
        isCurrent: (id, key) => this.loaded?.jobs.find((job) => job.id === id)?.key === key,
        onEvent: (event) => this.onRunEvent(event, keys),
      })
      .then(
        (result) => {
          for (const item of items) {
            const view = this.views.get(item.job.id)
            if (!view || view.key !== item.job.key) continue
            const failed = result.failed.find((entry) => entry.id === item.job.id)
            const blocked = result.blocked.find((entry) => entry.id === item.job.id)
            if (failed) this.update(item.job, { phase: 'failed', error: failed.error.message })
            else if (blocked) this.update(item.job, { phase: 'blocked', reasons: blocked.reasons })
          }
          this.emit({ type: 'build:done', result })
        },
        (error: unknown) => {
          const message = ImagesEditError.is(error) ? error.message : error instanceof Error ? error.message : String(error)
          for (const item of items) if (this.views.get(item.job.id)?.key === item.job.key) this.update(item.job, { phase: 'failed', error: message })
          this.emit({ type: 'error', message })
        },
      )
      .finally(() => {
        for (const item of items) this.building.get(item.job.id)?.delete(item.job.key)
        this.builds.delete(build)
      })
    this.builds.add(build)
  }

  /** A run's event, applied to the job's view only while the job still has the key that run builds. */
  private onRunEvent(event: RunEvent, keys: ReadonlyMap<string, string>): void {
    this.emit({ type: 'run', event })
    if (!('id' in event) || event.id === undefined) return
    const view = this.views.get(event.id)
    if (!view || view.key !== keys.get(event.id)) return
    const job = this.loaded?.jobs.find((item) => item.id === event.id)
    if (!job) return
    const change = viewChange(event)
    if (change === 'ready') void this.markReady(job)
    else if (change) this.update(job, change)
  }

  /** A finished job's images come from the lock, which the build has just written for it. */
  private async markReady(job: Job): Promise<void> {
    const { plan } = await this.project.plan({ loaded: this.loaded as LoadedManifest, only: [job.id] })
    const item = plan.jobs[0]
    if (!item || item.job.key !== job.key || item.available.length < job.n) return
    this.update(job, { phase: 'ready', images: readyImages(job, item.available), reasons: [] })
  }

  /**
   * A stand-in image of the exact size and format for a job that is not ready: the `local`
   * provider's rendering of the same recipe, cached per key.
   */
  placeholder(id: string, index = 0): Promise<Uint8Array> {
    const job = this.loaded?.jobs.find((item) => item.id === id)
    if (!job) return Promise.reject(new ImagesEditError('USAGE', `unknown job ${id}`))
    return this.placeholders.get(job, index)
  }

  /** Jobs with a build in flight. */
  inFlight(): string[] {
    return [...this.building.entries()].filter(([, keys]) => keys.size > 0).map(([id]) => id)
  }

  /** Waits until no build is running (tests, `vite build` after dev). */
  async idle(): Promise<void> {
    await this.refreshing
    while (this.builds.size > 0) await Promise.allSettled([...this.builds])
  }

  /**
   * Stops. With `abort`, nothing new starts and free work (uploads, polls) stops at once, but paid
   * calls already sent are still answered, so their task ids are journaled and their results kept
   * (the next run resumes them without paying again); without it, running jobs finish first.
   * `abandon` (or `abandonAfterMs` passing) gives up on those paid calls too; their jobs are then
   * reported as possibly billed.
   */
  async close(options: { abort?: boolean; abandon?: AbortSignal; abandonAfterMs?: number } = {}): Promise<void> {
    this.closed = true
    if (options.abort) this.controller.abort(new ImagesEditError('ABORTED', 'the dev session closed'))
    const abandon = () => this.abandonController.abort(new ImagesEditError('ABORTED', 'paid calls abandoned'))
    if (options.abandon?.aborted) abandon()
    options.abandon?.addEventListener('abort', abandon, { once: true })
    const timer = options.abandonAfterMs === undefined ? undefined : setTimeout(abandon, options.abandonAfterMs)
    try {
      await this.idle()
    } finally {
      clearTimeout(timer)
      options.abandon?.removeEventListener('abort', abandon)
    }
    await this.project.close()
  }

  private update(job: Job, changes: Partial<JobView>): void {
    const view = nextView(job, this.views.get(job.id), changes)
    this.views.set(job.id, view)
    this.emit({ type: 'job', job: view })
  }

  private emit(event: SessionEvent): void {
    try {
      this.options.onEvent?.(event)
    } catch {
      // A UI's bug must not stop the engine.
    }
  }
}
