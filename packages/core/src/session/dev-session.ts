import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { PlannedJob } from '../plan/plan.js'
import type { JobTakes, PickRequest, Project } from '../project.js'
import type { RunEvent } from '../run/events.js'
import { type JobView, nextView, readyImages, viewChange } from './job-view.js'
import { Placeholders } from './placeholders.js'
import { FROZEN_REASON, refreshPlan } from './refresh-plan.js'
import { SessionReview, type TakeQuote } from './review.js'
import { SessionBuilds } from './session-builds.js'
import type { DevSessionOptions, SessionEvent } from './session-types.js'
import { WatchedInputs, type WatchedPaths } from './watched-inputs.js'

export type { JobPhase, JobView, ReadyImage } from './job-view.js'
export type { TakeQuote } from './review.js'
export type { DevSessionOptions, SessionEvent } from './session-types.js'

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
  private readonly builds = new SessionBuilds()
  private refreshing: Promise<unknown> = Promise.resolve()
  private readonly placeholders = new Placeholders(this.builds.signal)
  private readonly review: SessionReview
  private closed = false

  constructor(
    readonly project: Project,
    private readonly options: DevSessionOptions = {},
  ) {
    this.inputs = new WatchedInputs(project)
    this.review = new SessionReview({
      project,
      loaded: () => this.loaded,
      frozen: () => project.frozen(options.frozen),
      building: (id) => this.inFlight().includes(id),
      view: (id) => this.job(id),
      startTake: async (loaded, job, quote) => {
        const before = this.views.get(job.id)
        // The outputs stay the current take's images until the new one is stored and written.
        this.update(job, { phase: 'queued', stage: `new take ${quote.take}`, reasons: [`new take ${quote.take}: ${quote.text.head}`] })
        await this.startBuild(loaded, [job], [job.id]).catch((error: unknown) => {
          // Refused (the budget): the job shows what it showed before (unless its recipe changed
          // meanwhile); the caller says why.
          if (before?.key === job.key && this.views.get(job.id)?.key === job.key) this.update(job, before)
          throw error
        })
      },
      showReady: (job) => this.markReady(job),
      report: (event) => this.emit({ type: 'run', event }),
    })
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
    return this.serially(() => this.refreshNow())
  }

  /** Every take and candidate of the jobs (of `only`), from the store's records and the lock. */
  takes(only: readonly string[] = []): Promise<JobTakes[]> {
    return this.review.takes(only)
  }

  /** Makes other images of a job's takes its outputs, free; its view (so its modules) then shows them. */
  pick(request: PickRequest): Promise<JobView> {
    return this.serially(() => this.review.pick(request))
  }

  /** What a new take of a job would make and cost, to show before asking for one. Refused when frozen. */
  quoteTake(id: string): Promise<TakeQuote> {
    return this.review.quote(id)
  }

  /**
   * Starts a new (paid) take of a job, if `token` is still its quote's (what the user confirmed).
   * Resolves once the take passed the budget, never waiting for the provider; refused when frozen.
   */
  newTake(id: string, token: string): Promise<TakeQuote> {
    return this.serially(() => this.review.newTake(id, token))
  }

  /** Runs after every refresh, pick and new take asked for before, and before those asked for after. */
  private serially<T>(task: () => Promise<T>): Promise<T> {
    const next = this.refreshing.then(task)
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
    const plan = await refreshPlan(this.project, { loaded, only, frozen }, (message) => this.emit({ type: 'error', message }))
    const current = new Set(plan.jobs.map((item) => item.job.id))
    for (const id of [...this.views.keys()]) if (!current.has(id)) this.views.delete(id)

    const toBuild: PlannedJob[] = []
    for (const item of plan.jobs) {
      const building = this.builds.has(item.job.id, item.job.key)
      // A job being built with its key (a new take) stays as its build reports it.
      if (item.status === 'fresh' && !building) {
        this.update(item.job, { phase: 'ready', reasons: item.reasons, images: readyImages(item.job, item.served) })
      } else if (item.status === 'blocked') {
        this.update(item.job, { phase: 'blocked', reasons: item.reasons, images: [] })
      } else if (item.status === 'generate' && frozen) {
        // Frozen (CI, or asked for): what needs paying for stays a placeholder; restores still run.
        this.update(item.job, { phase: 'blocked', reasons: [...item.reasons, FROZEN_REASON], images: [] })
      } else if (building) {
        // Already being made with exactly these inputs: nothing to start.
        this.update(item.job, { reasons: item.reasons })
      } else {
        toBuild.push(item)
        this.update(item.job, { phase: 'queued', reasons: item.reasons, images: [], stage: item.status === 'restore' ? 'restoring' : 'queued' })
      }
    }
    if (toBuild.length > 0)
      void this.startBuild(
        loaded,
        toBuild.map((item) => item.job),
      )
    return { ok: true, started: toBuild.map((item) => item.job.id) }
  }

  /**
   * Builds `jobs` in the background (with `force`, a new take of them). Resolves once the build
   * passed its refusals (its `plan` event), rejects with the refusal; a refused new take leaves
   * its jobs showing what they showed, and is the caller's to report.
   */
  private startBuild(loaded: LoadedManifest, jobs: Job[], force: string[] = []): Promise<void> {
    const keys = new Map(jobs.map((job) => [job.id, job.key]))
    const current = () => jobs.filter((job) => this.views.get(job.id)?.key === job.key)
    return this.builds.start(jobs, async ({ accept, accepted, signal, abandon }) => {
      try {
        const result = await this.project.build({
          loaded,
          only: jobs.map((job) => job.id),
          ...(force.length > 0 ? { force } : {}),
          frozen: this.project.frozen(this.options.frozen),
          signal,
          abandon,
          isCurrent: (id, key) => this.loaded?.jobs.find((job) => job.id === id)?.key === key,
          onEvent: (event) => {
            if (event.type === 'plan') accept()
            this.onRunEvent(event, keys)
          },
        })
        for (const job of current()) {
          const failed = result.failed.find((entry) => entry.id === job.id)
          const blocked = result.blocked.find((entry) => entry.id === job.id)
          if (failed) this.update(job, { phase: 'failed', error: failed.error.message })
          else if (blocked) this.update(job, { phase: 'blocked', reasons: blocked.reasons })
          // A new take keeps its key: at `job:done` the lock still named the old take (it is written
          // when the build ends), so its images are read again now.
          else if (force.length > 0 && result.done.includes(job.id)) await this.markReady(job)
        }
        this.emit({ type: 'build:done', result })
      } catch (error) {
        // A refused new take changed nothing: its caller restores the view and says why.
        if (force.length > 0 && !accepted()) throw error
        const message = ImagesEditError.is(error) ? error.message : error instanceof Error ? error.message : String(error)
        for (const job of current()) this.update(job, { phase: 'failed', error: message })
        this.emit({ type: 'error', message })
      }
    })
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
    if (!item || item.job.key !== job.key || item.served.some((image) => !image)) return
    this.update(job, { phase: 'ready', images: readyImages(job, item.served), reasons: [] })
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
    return this.builds.inFlight()
  }

  /** Waits until no build is running (tests, `vite build` after dev). */
  async idle(): Promise<void> {
    await this.refreshing
    await this.builds.idle()
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
    await this.builds.stop(options, () => this.idle())
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
