// The engine's entry point for the CLI and the Vite plugin: a façade over a project's Workspace and the build, status and gc modules.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { type BuildInputs, runBuild } from './build/build.js'
import type { BuildOptions, BuildResult } from './build/types.js'
import { type PlanCost, planCost } from './cost/estimate.js'
import { ImagesEditError, ManifestError } from './errors.js'
import { resolveFrozen } from './frozen.js'
import { collectGarbage, type GcReport } from './gc/gc.js'
import type { LockFile } from './lock/lock-file.js'
import { type LoadedManifest, loadManifest } from './manifest/load-manifest.js'
import { MANIFEST_NAME } from './manifest/types.js'
import { createPlan, type Plan } from './plan/plan.js'
import { readDotEnv, resolveProviderConfig } from './providers/config.js'
import type { ProviderId } from './providers/provider.js'
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.js'
import { missingJob, type PullReport, type PushReport, type RemoteState } from './remote/reports.js'
import { type JobStatus, jobStatuses } from './status/status.js'
import type { JournalEntry } from './store/journal.js'
import type { ResultStore } from './store/store.js'
import { type JobTakes, listTakes } from './takes/list-takes.js'
import { type PickRequest, runPick } from './takes/pick.js'
import { attachRemote, requireRemote } from './workspace/attach-remote.js'
import { countWarnings, rememberIfNoop } from './workspace/plan-snapshot.js'
import { Workspace } from './workspace/workspace.js'

export type { BuildOptions, BuildResult } from './build/types.js'
export type { GcReport, GcResult, GcTake } from './gc/gc.js'
export type { MissingJob, PullReport, PushReport, RemoteState } from './remote/reports.js'
export type { JobStatus, OutputPlace } from './status/status.js'
export type { JobTakes, TakeImage, TakeInfo } from './takes/list-takes.js'
export type { PickRequest } from './takes/pick.js'

/** Options of {@link openProject}. */
export interface ProjectOptions {
  /** Path of `images.edit.yaml`. When omitted it is searched upward from `cwd`. */
  manifest?: string
  /** @default process.cwd() */
  cwd?: string
  /** Run every recipe on this provider (`--provider local`). */
  providerOverride?: ProviderId
  /** Provider instances to use instead of the built-in ones (tests, the Vite plugin). */
  providers?: ProviderRegistry
  /** Environment for keys and base URLs. @default process.env */
  env?: NodeJS.ProcessEnv
  /** undici dispatcher for every provider HTTP call. */
  dispatcher?: import('undici').Dispatcher
  /**
   * Where results (images and their records) are kept. Everything the build needs from it is in
   * {@link ResultStore}. @default a `FileSystemStore` in `.images-edit/` beside the manifest
   */
  store?: ResultStore
  /** false: ignore the team store configured by `remote:` or IMAGES_EDIT_REMOTE (`--no-remote`). @default true */
  remote?: boolean
  /**
   * Environment for the team store's variables (IMAGES_EDIT_REMOTE*, AWS_*), when it is not
   * `env` (the Vite plugin lays its `env` option over `process.env` here). @default env
   */
  remoteEnv?: NodeJS.ProcessEnv
}

/** Finds `images.edit.yaml` in `cwd` or the nearest folder above it. */
export function findManifest(cwd: string): string | undefined {
  let folder = resolve(cwd)
  for (;;) {
    const candidate = join(folder, MANIFEST_NAME)
    if (existsSync(candidate)) return candidate
    const parent = dirname(folder)
    if (parent === folder) return undefined
    folder = parent
  }
}

/** Opens the project around a manifest: its {@link Workspace} (lock, store, caches). */
export async function openProject(options: ProjectOptions = {}): Promise<Project> {
  const cwd = options.cwd ?? process.cwd()
  const manifest = options.manifest ? resolve(cwd, options.manifest) : findManifest(cwd)
  if (!manifest) {
    throw new ImagesEditError(
      'MANIFEST_NOT_FOUND',
      `no ${MANIFEST_NAME} in ${cwd} or any folder above it. Run \`images-edit init\` to create one, or pass --manifest <path>.`,
    )
  }
  return new Project(await Workspace.open(manifest, options.store), options)
}

/** One manifest with its workspace: load, plan, build, status and gc. */
export class Project {
  readonly manifestPath: string
  readonly root: string
  readonly lockPath: string
  readonly storeDir: string
  readonly store: ResultStore

  constructor(
    /** The project's files, opened. */
    readonly workspace: Workspace,
    private readonly options: ProjectOptions,
  ) {
    ;({ manifestPath: this.manifestPath, root: this.root, lockPath: this.lockPath, storeDir: this.storeDir, store: this.store } = workspace)
  }

  /** Reads and validates the manifest (never throws for a bad manifest: see `diagnostics`). */
  async load(): Promise<LoadedManifest> {
    const { workspace } = this
    const recalled = await workspace.snapshot.recall(this.options.providerOverride ?? '')
    if (recalled) {
      workspace.adopt(recalled)
      return recalled
    }
    workspace.fileIndex.beginPass()
    const loaded = await loadManifest(this.manifestPath, {
      fileIndex: workspace.fileIndex,
      parseCachePath: join(this.storeDir, 'manifest-cache.json'),
      ...(this.options.providerOverride ? { providerOverride: this.options.providerOverride } : {}),
    })
    workspace.adopt(loaded)
    return loaded
  }

  /** Loads the manifest and throws a {@link ManifestError} when it has errors (or warnings, when strict). */
  async loadValid(strict = false): Promise<LoadedManifest> {
    const loaded = await this.load()
    const blocking = loaded.diagnostics.filter((item) => item.severity === 'error' || strict)
    if (blocking.length > 0) {
      throw new ManifestError(`${blocking.length} problem${blocking.length === 1 ? '' : 's'} in ${this.manifestPath}`, loaded.diagnostics)
    }
    return loaded
  }

  /** What a build would do, why, and what it would cost (`cost/`). */
  async plan(
    options: { force?: readonly string[]; only?: readonly string[]; strict?: boolean; loaded?: LoadedManifest; readThrough?: boolean } = {},
  ): Promise<{ loaded: LoadedManifest; plan: Plan; cost: PlanCost }> {
    const { workspace } = this
    const loaded = options.loaded ?? (await this.loadValid(options.strict))
    checkIds(loaded, [...(options.force ?? []), ...(options.only ?? [])])
    const recalled = workspace.snapshot.planFor(loaded, [...(options.force ?? []), ...(options.only ?? [])].length > 0)
    if (recalled) {
      await this.attachRemote(loaded)
      return { loaded, plan: recalled, cost: planCost(recalled, loaded.manifest) }
    }
    // Before the lock is read: a teammate's lock is accounted for by what the team store has.
    await this.attachRemote(loaded)
    const { lock } = await workspace.lockStore.read()
    const journal = await workspace.journal.list()
    const replan = () =>
      createPlan(
        loaded.jobs,
        { lock, store: this.store, fileIndex: workspace.fileIndex, root: this.root, journal },
        { force: new Set(options.force ?? []), only: new Set(options.only ?? []) },
      )
    let plan = await replan()
    // Read through: what the plan would generate is first looked up in the team store.
    if (options.readThrough && (await this.attachRemote(loaded)) && (await workspace.remote?.hydrate(this.store, plan))) plan = await replan()
    await workspace.fileIndex.save()
    return { loaded, plan, cost: planCost(plan, loaded.manifest) }
  }

  private attachRemote(loaded: LoadedManifest): Promise<boolean> {
    return attachRemote(this.workspace, this.options, loaded)
  }

  /** Whether a build here is frozen, given what the user said explicitly ({@link resolveFrozen} in this project's environment). */
  frozen(explicit?: boolean): boolean {
    return resolveFrozen(explicit, this.options.env)
  }

  /** Runs the plan: restores what the store has, generates the rest, writes outputs and the lock (the stages of `build/build.ts`). */
  async build(options: BuildOptions = {}): Promise<BuildResult> {
    const { loaded, plan } = await this.plan({ ...options, readThrough: true })
    const inputs: BuildInputs = { loaded, plan, providers: await this.providersFor(loaded), frozen: this.frozen(options.frozen) }
    const warnings = countWarnings(options.onEvent)
    const result = await runBuild(this.workspace, inputs, { ...options, onEvent: warnings.onEvent })
    await rememberIfNoop(this.workspace, result, { ...options, warnings: warnings.count(), request: this.options.providerOverride ?? '' })
    return result
  }

  /**
   * Per job: up to date, stale (why), missing output, or modified by hand; per output, whether it is
   * local, only in the team store, or missing. Reads no image bytes when nothing changed, copies
   * nothing, and asks the team store (when one is configured) only about outputs not here.
   */
  async status(options: { only?: readonly string[] } = {}): Promise<{ loaded: LoadedManifest; jobs: JobStatus[]; remote?: RemoteState }> {
    const { loaded, plan } = await this.plan(options)
    const remote = (await this.attachRemote(loaded)) ? this.workspace.remote : undefined
    if (!remote) return { loaded, jobs: jobStatuses(plan) }
    const answer = await remote.locate(plan.jobs)
    const error = answer instanceof Error ? answer : [...answer.values()].find((value) => value instanceof Error)
    return {
      loaded,
      jobs: jobStatuses(plan, answer),
      remote: { location: remote.url, ...(error ? { error: error.message } : {}), warnings: remote.takeWarnings() },
    }
  }

  /**
   * Restores every output the lock names (and any other result the team store has for the manifest's
   * jobs) from the local store or the team store, verified by sha256. Never generates: a job neither
   * has is listed in `missing`. Throws when no team store is configured, or (a refusal) when it
   * cannot be asked.
   */
  async pull(options: { only?: readonly string[]; onEvent?: BuildOptions['onEvent']; forceLock?: boolean; signal?: AbortSignal } = {}): Promise<PullReport> {
    const loaded = await this.loadValid()
    const remote = await requireRemote(this.workspace, this.options, loaded)
    const { plan } = await this.plan({ loaded, ...(options.only ? { only: options.only } : {}), readThrough: true })
    // What only a build can make, or what is blocked for images neither store has, is missing.
    const lacking = (item: (typeof plan.jobs)[number]) => item.status === 'generate' || (item.status === 'blocked' && item.served.some((image) => !image))
    const restorable = plan.jobs.filter((item) => !lacking(item))
    const missing = plan.jobs.filter(lacking).map(missingJob)
    const inputs: BuildInputs = {
      loaded,
      plan: { jobs: restorable, newImages: 0, paidImages: 0 },
      providers: await this.providersFor(loaded),
      frozen: true,
      restoreOnly: true,
    }
    const result = await runBuild(this.workspace, inputs, {
      loaded,
      only: options.only ?? [],
      ...(options.forceLock ? { forceLock: true } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
    return { location: remote.url, result, missing }
  }

  /** Every take and candidate of the jobs (of `only`: recipes or job ids), and which images the outputs are. */
  async takes(options: { only?: readonly string[] } = {}): Promise<JobTakes[]> {
    const { plan } = await this.plan({ ...(options.only ? { only: options.only } : {}) })
    return listTakes(this.root, this.store, plan)
  }

  /** Makes other images of a job's takes its outputs: free (written from the store, never generated); the lock records the pick. */
  async pick(request: PickRequest, options: Pick<BuildOptions, 'onEvent' | 'forceLock'> = {}): Promise<BuildResult> {
    const loaded = await this.loadValid()
    await this.attachRemote(loaded)
    return runPick(this.workspace, { loaded, providers: await this.providersFor(loaded) }, request, options)
  }

  /** Removes what nothing references (see {@link collectGarbage}); with `dryRun`, only reports it. */
  async gc(options: { dryRun?: boolean } = {}): Promise<GcReport> {
    return collectGarbage(this.workspace, await this.loadValid(), options)
  }

  /**
   * Pushes results queued for the team store (with `all`, every result stored locally) to it:
   * objects, then their signed records. What fails stays queued. Throws when no remote is configured.
   */
  async push(options: { all?: boolean } = {}): Promise<PushReport> {
    const remote = await requireRemote(this.workspace, this.options, await this.loadValid())
    if (options.all) await remote.queue(await this.store.listRecords())
    const { pushed, failed } = await remote.push(this.store)
    return { location: remote.url, pushed, failed, warnings: remote.takeWarnings() }
  }

  /** Paid tasks submitted and not yet stored (they are collected by the next build, at no cost). */
  inFlight(): Promise<JournalEntry[]> {
    return this.workspace.journal.list()
  }

  /** The lock as it is on disk now. */
  async readLock(): Promise<LockFile> {
    return (await this.workspace.lockStore.read()).lock
  }

  /** Saves caches. Call when done with the project. */
  close(): Promise<void> {
    return this.workspace.close()
  }

  /** The providers for a loaded manifest: injected ones, else the built-in ones configured from manifest, environment and `.env`. */
  private async providersFor(loaded: LoadedManifest): Promise<ProviderRegistry> {
    if (this.options.providers) return this.options.providers
    const env = this.options.env ?? process.env
    const dotEnv = await readDotEnv(this.root)
    return createProviderRegistry({
      config: (id) => resolveProviderConfig(id, loaded.manifest?.providers?.[id], env, dotEnv),
      ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
    })
  }
}

/** Every id given to --force or `only` must name a recipe or job of the manifest. */
function checkIds(loaded: LoadedManifest, ids: readonly string[]): void {
  const known = new Set(loaded.jobs.flatMap((job) => [job.id, job.recipe]))
  const unknown = ids.filter((id) => !known.has(id))
  if (unknown.length > 0) {
    throw new ImagesEditError(
      'USAGE',
      `unknown recipe${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}. Recipes: ${[...new Set(loaded.jobs.map((job) => job.recipe))].join(', ')}.`,
    )
  }
}
