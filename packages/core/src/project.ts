import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { Diagnostic } from './diagnostics.js'
import { ImagesEditError, ManifestError, RefusalError } from './errors.js'
import { resolveFrozen } from './frozen.js'
import { assertWritable, checkProjectPath, isPlainRelative, readBounded, readCacheText, realFolderMemo, withFsErrors } from './fs/project-fs.js'
import { sha256 } from './hash/content-hash.js'
import { FileIndex } from './hash/file-index.js'
import { type LockedJob, type LockFile, LockStore, sortedParams } from './lock/lock-file.js'
import { lockVerifier } from './lock/verify-lock.js'
import type { Job } from './manifest/job.js'
import { type LoadedManifest, loadManifest } from './manifest/load-manifest.js'
import { LOCK_NAME, MANIFEST_NAME, STORE_DIR } from './manifest/types.js'
import { createPlan, type Plan, type PlannedJob } from './plan/plan.js'
import { hostedProviderIds } from './providers/catalog.js'
import { readDotEnv, resolveProviderConfig } from './providers/config.js'
import type { ProviderId } from './providers/provider.js'
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.js'
import type { EventListener, JobError } from './run/events.js'
import { collectJournaled, createRunnerGates, type JobOutcome, type ProviderLimits, type RunnerContext, type RunnerGates, runJobs } from './run/run-jobs.js'
import { redactDeep } from './secrets/redact.js'
import { sweepTemporaryFiles, writeFileAtomic } from './store/atomic-write.js'
import { FileSystemStore } from './store/fs-store.js'
import { Journal, type JournalEntry } from './store/journal.js'
import { KeyLocks } from './store/key-lock.js'
import type { ImageRecord, JobRecord, ResultStore } from './store/store.js'
import { FileUploadCache } from './store/upload-cache.js'

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
   * {@link ResultStore}. @default a {@link FileSystemStore} in `.images-edit/` beside the manifest
   */
  store?: ResultStore
}

/** Options of {@link Project.build}. */
export interface BuildOptions {
  /** Recipe or job ids to take anew: a new paid take, overwriting edited outputs. */
  force?: readonly string[]
  /** Only these recipe or job ids (all when empty). */
  only?: readonly string[]
  /**
   * Refuse to generate anything (exit 3). Leave it undefined unless the user said so explicitly:
   * the build then applies the one rule, {@link resolveFrozen} (frozen exactly when `CI` is set in
   * the project's environment).
   */
  frozen?: boolean
  /** Refuse a run that would generate more new images than this. Overrides `budget.maxImagesPerRun`. */
  maxImages?: number
  /** Global cap on jobs in flight. Overrides the manifest's `concurrency`. */
  concurrency?: number
  /** Finish the other jobs when one fails. @default true */
  keepGoing?: boolean
  /** Treat manifest warnings as errors. */
  strict?: boolean
  /** Rewrite `images.edit.lock` even though it was edited by hand. */
  forceLock?: boolean
  /** Use this already loaded (and valid) manifest instead of reading it again (dev sessions). */
  loaded?: LoadedManifest
  /**
   * Whether a finished job's result should still be written to its outputs and the lock. A dev
   * session answers false when the recipe changed while the job ran: the paid result is kept in
   * the store for when that key comes back, but does not overwrite the newer recipe's output.
   */
  isCurrent?: (jobId: string, key: string) => boolean
  /**
   * Stops the build (Ctrl-C): nothing new starts, paid calls already sent are answered, their task
   * ids journaled and their results kept, then the build returns `interrupted`.
   */
  signal?: AbortSignal
  /** Abandons paid calls still in flight after `signal` (a second Ctrl-C); their jobs are reported as possibly billed. */
  abandon?: AbortSignal
  onEvent?: EventListener
}

/** What a build did. */
export interface BuildResult {
  plan: Plan
  loaded: LoadedManifest
  done: string[]
  fresh: string[]
  restored: string[]
  failed: { id: string; error: JobError }[]
  blocked: { id: string; reasons: string[] }[]
  /** Jobs an interruption (Ctrl-C) stopped before they finished; a rerun picks them up. */
  notStarted: string[]
  /** New images this run generated (the jobs in `done`); what it paid for is `plan.paidImages` of those. */
  newImages: number
  lockWritten: boolean
  interrupted: boolean
}

/** State of one job as `status` reports it. */
export interface JobStatus {
  id: string
  recipe: string
  state: 'up-to-date' | 'stale' | 'missing-output' | 'modified' | 'blocked'
  reasons: string[]
  outputs: string[]
  provider: string
}

/** What `gc` removes, or with `dryRun` would remove: the same lists and byte counts either way. */
export interface GcReport {
  /** Keys of the result records deleted: no job of the manifest or the lock has that key. */
  records: string[]
  /** Those records described for people (a key names no recipe): what they held, and when. */
  results: GcResult[]
  /** Takes deleted from records that stay: every take but the ones the lock uses. */
  takes: GcTake[]
  /** sha256 of the stored images deleted. */
  objects: string[]
  /** Output files deleted, relative to the manifest's folder. */
  outputs: string[]
  /** Bytes of the files deleted from `.images-edit/` (images and records). The same figure with `dryRun`. */
  bytes: number
  /** Bytes of the output files deleted. */
  outputBytes: number
}

/** A result record `gc` deletes. */
export interface GcResult {
  key: string
  /** Unknown when the record is damaged. */
  provider?: string
  model?: string
  /** Images it holds, over all its takes. */
  images: number
  /** When its newest images were stored (ISO time). */
  storedAt?: string
  /** Output files images-edit last wrote with one of its images (from the output ledger). */
  outputs: string[]
  /** Bytes it frees: the record and the images no other deleted entry was counted for. */
  bytes: number
}

/** An old take `gc` deletes from a record that stays. */
export interface GcTake {
  key: string
  take: number
  /** Ids of the jobs with that key, from the lock and the manifest. */
  jobs: string[]
  /** The takes of that key that stay. */
  kept: number[]
  images: number
  /** Bytes of the images only this take held. */
  bytes: number
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

/** Opens the project around a manifest: its lock, store and stat cache. */
export async function openProject(options: ProjectOptions = {}): Promise<Project> {
  const cwd = options.cwd ?? process.cwd()
  const manifest = options.manifest ? resolve(cwd, options.manifest) : findManifest(cwd)
  if (!manifest) {
    throw new ImagesEditError(
      'MANIFEST_NOT_FOUND',
      `no ${MANIFEST_NAME} in ${cwd} or any folder above it. Run \`images-edit init\` to create one, or pass --manifest <path>.`,
    )
  }
  const project = new Project(manifest, options)
  project.lockStore.verify = lockVerifier({ root: project.root, store: project.store, fileIndex: project.fileIndex })
  await project.fileIndex.load()
  return project
}

/**
 * One manifest with its lock, store and caches: the engine's entry point for the CLI and the
 * Vite plugin.
 */
export class Project {
  readonly root: string
  readonly lockPath: string
  readonly storeDir: string
  readonly store: ResultStore
  readonly fileIndex: FileIndex
  readonly journal: Journal
  readonly lockStore: LockStore
  readonly keyLocks: KeyLocks
  readonly uploads: FileUploadCache
  private readonly ledgerPath: string
  /** `security.allowOutsideProject` of the manifest last loaded. */
  private allowOutside = false
  private gates: { concurrency: number; gates: RunnerGates } | undefined

  constructor(
    readonly manifestPath: string,
    private readonly options: ProjectOptions,
  ) {
    this.root = dirname(manifestPath)
    this.lockPath = join(this.root, LOCK_NAME)
    this.storeDir = join(this.root, STORE_DIR)
    this.store = options.store ?? new FileSystemStore(this.storeDir)
    this.fileIndex = new FileIndex(this.root, join(this.storeDir, 'stat-cache.json'))
    this.journal = new Journal(join(this.storeDir, 'journal'))
    this.lockStore = new LockStore(this.lockPath, join(this.storeDir, 'lock-cache.json'))
    this.keyLocks = new KeyLocks(join(this.storeDir, 'locks'))
    this.uploads = new FileUploadCache(join(this.storeDir, 'uploads.json'))
    this.ledgerPath = join(this.storeDir, 'outputs.json')
  }

  /** Reads and validates the manifest (never throws for a bad manifest: see `diagnostics`). */
  load(): Promise<LoadedManifest> {
    this.fileIndex.beginPass()
    return loadManifest(this.manifestPath, {
      fileIndex: this.fileIndex,
      parseCachePath: join(this.storeDir, 'manifest-cache.json'),
      ...(this.options.providerOverride ? { providerOverride: this.options.providerOverride } : {}),
    }).then((loaded) => {
      // Paths read from the lock and the ledger are checked against the same setting.
      this.allowOutside = this.lockStore.allowOutside = loaded.manifest?.security?.allowOutsideProject === true
      return loaded
    })
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

  /** What a build would do, and why. */
  async plan(
    options: { force?: readonly string[]; only?: readonly string[]; strict?: boolean; loaded?: LoadedManifest } = {},
  ): Promise<{ loaded: LoadedManifest; plan: Plan }> {
    const loaded = options.loaded ?? (await this.loadValid(options.strict))
    checkIds(loaded, [...(options.force ?? []), ...(options.only ?? [])])
    const { lock } = await this.lockStore.read()
    const journal = await this.journal.list()
    const plan = await createPlan(
      loaded.jobs,
      { lock, store: this.store, fileIndex: this.fileIndex, root: this.root, journal },
      { force: new Set(options.force ?? []), only: new Set(options.only ?? []) },
    )
    await this.fileIndex.save()
    return { loaded, plan }
  }

  /** Whether a build here is frozen, given what the user said explicitly ({@link resolveFrozen} in this project's environment). */
  frozen(explicit?: boolean): boolean {
    return resolveFrozen(explicit, this.options.env)
  }

  /** Runs the plan: restores what the store has, generates the rest, writes outputs and the lock. */
  async build(options: BuildOptions = {}): Promise<BuildResult> {
    const started = Date.now()
    const { loaded, plan } = await this.plan(options)
    const providers = await this.providersFor(loaded)
    // Safety net: whatever a service echoes, no configured key leaves through an event.
    const secrets = hostedProviderIds.map((id) => providers.config(id)?.apiKey).filter((key): key is string => Boolean(key))
    const listener = options.onEvent ?? (() => {})
    const emit: EventListener = secrets.length > 0 ? (event) => listener(redactDeep(event, secrets)) : listener
    for (const diagnostic of loaded.diagnostics) {
      if (diagnostic.severity === 'warning') emit({ type: 'warning', message: `${diagnostic.line}:${diagnostic.column} ${diagnostic.message}`, diagnostic })
    }
    const generating = plan.jobs.filter((item) => item.status === 'generate')

    // Refusals come before any work: no file written, no provider created, no key asked for.
    const frozen = this.frozen(options.frozen)
    if (frozen && generating.length > 0) {
      throw new RefusalError(
        'FROZEN',
        `frozen mode: ${generating.length} job${generating.length === 1 ? '' : 's'} would generate ${plan.newImages} new image${plan.newImages === 1 ? '' : 's'}, and nothing may be generated. Build them without --frozen (or with --no-frozen) where that is intended, then commit ${LOCK_NAME} and the outputs.`,
        generating.map((item) => ({ id: item.job.id, reason: item.reasons.join('; '), newImages: item.newImages })),
      )
    }
    const lockState = await this.lockStore.read()
    if (!options.forceLock && lockState.handEdited) {
      throw new ImagesEditError(
        'LOCK_EDITED',
        `${LOCK_NAME} was edited by hand (${lockState.editReason ?? 'it differs from what images-edit writes'}), so it is not overwritten. Restore it (git checkout ${LOCK_NAME}), or run with --force-lock to let images-edit rewrite it from what is on disk.`,
      )
    }
    const budget = options.maxImages ?? loaded.manifest?.budget?.maxImagesPerRun
    if (budget !== undefined && plan.newImages > budget) {
      throw new RefusalError(
        'BUDGET',
        `this run would generate ${plan.newImages} new images (${plan.paidImages} paid), over the budget of ${budget}. Raise --max-images, or build fewer recipes at once (images-edit build <recipe…>).`,
        generating.map((item) => ({ id: item.job.id, reason: item.reasons.join('; '), newImages: item.newImages })),
      )
    }
    // A missing key is reported now, before any work, naming the variable.
    for (const provider of new Set(generating.map((item) => item.job.provider))) providers.get(provider)
    await this.checkPaidInputs(loaded, generating)

    emit({
      type: 'plan',
      total: plan.jobs.length,
      fresh: plan.jobs.filter((item) => item.status === 'fresh').length,
      restore: plan.jobs.filter((item) => item.status === 'restore').length,
      generate: generating.length,
      blocked: plan.jobs.filter((item) => item.status === 'blocked').length,
      newImages: plan.newImages,
      paidImages: plan.paidImages,
    })

    await this.sweep(loaded)
    // Lock entries this run sets; jobs that fail, are blocked or interrupted keep theirs.
    const updates: Record<string, LockedJob> = {}

    const result: BuildResult = {
      plan,
      loaded,
      done: [],
      fresh: [],
      restored: [],
      failed: [],
      blocked: [],
      notStarted: [],
      newImages: 0,
      lockWritten: false,
      interrupted: false,
    }
    const signal = options.signal ?? new AbortController().signal
    try {
      for (const item of plan.jobs) {
        if (item.status === 'fresh') {
          result.fresh.push(item.job.id)
          // An unchanged entry is left as it is: a no-op build never rewrites (or even compares) the lock.
          if (item.lockChanges) updates[item.job.id] = lockEntry(item, item.available)
          emit({ type: 'job:fresh', id: item.job.id })
          for (const reason of item.reasons) emit({ type: 'warning', id: item.job.id, message: reason })
        } else if (item.status === 'blocked') {
          result.blocked.push({ id: item.job.id, reasons: item.reasons })
          emit({ type: 'job:blocked', id: item.job.id, reasons: item.reasons })
        }
      }
      for (const item of plan.jobs.filter((entry) => entry.status === 'restore')) {
        if (signal.aborted) break
        try {
          await this.ingest(item)
          await this.writeOutputs(item, item.available)
          updates[item.job.id] = lockEntry(item, item.available)
          result.restored.push(item.job.id)
          emit({ type: 'job:restored', id: item.job.id, outputs: item.outputs.filter((output) => output.action === 'write').map((output) => output.path) })
        } catch (error) {
          const jobError = { code: ImagesEditError.is(error) ? error.code : 'STORE', message: (error as Error).message }
          result.failed.push({ id: item.job.id, error: jobError })
          emit({ type: 'job:failed', id: item.job.id, provider: item.job.provider, error: jobError, elapsedMs: 0 })
        }
      }

      const concurrency = options.concurrency ?? loaded.concurrency
      const limits = (id: ProviderId): ProviderLimits => {
        const config = providers.config(id)
        return {
          ...(config?.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
          ...(config?.requestsPerMinute !== undefined ? { requestsPerMinute: config.requestsPerMinute } : {}),
          ...(config ? { pollIntervalMs: config.pollIntervalMs, taskTimeoutMs: config.taskTimeoutMs } : {}),
        }
      }
      // One set of caps per project and concurrency, so overlapping runs share them.
      if (this.gates?.concurrency !== concurrency) this.gates = { concurrency, gates: createRunnerGates(concurrency, limits) }
      const runner: RunnerContext = {
        store: this.store,
        provider: (id) => providers.get(id),
        concurrency,
        limits,
        gates: this.gates.gates,
        keepGoing: options.keepGoing ?? true,
        signal,
        ...(options.abandon ? { abandon: options.abandon } : {}),
        redact: (value) => (secrets.length > 0 ? redactDeep(value, secrets) : value),
        emit,
        journal: this.journal,
        keyLocks: this.keyLocks,
        uploads: this.uploads,
        ingest: (item) => this.ingest(item),
        commit: async (item, images) => {
          if (options.isCurrent && !options.isCurrent(item.job.id, item.job.key)) return
          await this.writeOutputs(item, images)
          updates[item.job.id] = lockEntry(item, images)
        },
      }
      const outcomes: Map<string, JobOutcome> = await runJobs(generating, runner)
      // Paid tasks of earlier runs that no job here asked for (the recipe changed since) are
      // collected into the store, not left behind. A full, unfiltered build only: `only` and dev
      // sessions touch what they were asked to.
      if (!signal.aborted && (options.only?.length ?? 0) === 0) {
        const building = new Set(generating.map((item) => item.job.key))
        const leftover = (await this.journal.list()).filter((entry) => !building.has(entry.key) && !entry.uncollectable)
        if (leftover.length > 0) await collectJournaled(leftover, { ...runner, provider: (id) => providers.get(id) })
      }
      for (const item of generating) {
        const outcome = outcomes.get(item.job.id)
        if (outcome?.ok) result.done.push(item.job.id)
        else if (outcome?.error.code === 'ABORTED' && !outcome.error.billed) result.notStarted.push(item.job.id)
        else result.failed.push({ id: item.job.id, error: redactDeep(outcome?.error ?? { code: 'INTERNAL', message: 'no outcome' }, secrets) })
      }
    } finally {
      result.interrupted = signal.aborted
      // Whatever happened, record what is on disk now: finished jobs are never redone.
      result.lockWritten = await this.updateLock(updates, {
        dropMissing: (options.only?.length ?? 0) === 0 ? new Set(loaded.jobs.map((job) => job.id)) : undefined,
      })
      await this.fileIndex.save()
    }
    const generated = new Set(result.done)
    result.newImages = generating.reduce((sum, item) => sum + (generated.has(item.job.id) ? item.newImages : 0), 0)
    emit({
      type: 'run:done',
      done: result.done.length,
      fresh: result.fresh.length,
      restored: result.restored.length,
      failed: result.failed.length,
      blocked: result.blocked.length,
      newImages: result.newImages,
      elapsedMs: Date.now() - started,
      interrupted: result.interrupted,
    })
    return result
  }

  /** Per job: up to date, stale (why), missing output, or modified by hand. Reads no image bytes when nothing changed. */
  async status(options: { only?: readonly string[] } = {}): Promise<{ loaded: LoadedManifest; jobs: JobStatus[] }> {
    const { loaded, plan } = await this.plan(options)
    const jobs = plan.jobs.map((item): JobStatus => {
      const base = { id: item.job.id, recipe: item.job.recipe, outputs: item.job.outputs, provider: item.job.provider, reasons: item.reasons }
      const edited = item.outputs.some((output) => output.action === 'edited')
      if (item.status === 'blocked') return { ...base, state: 'blocked' }
      if (item.status === 'generate') return { ...base, state: 'stale' }
      if (item.status === 'restore') return { ...base, state: item.locked?.key === item.job.key ? 'missing-output' : 'stale' }
      if (edited) return { ...base, state: 'modified' }
      if (item.lockChanges)
        return { ...base, state: 'stale', reasons: item.reasons.length > 0 ? item.reasons : ['the lock entry is out of date (build to update it, at no cost)'] }
      return { ...base, state: 'up-to-date' }
    })
    return { loaded, jobs }
  }

  /**
   * Removes what nothing references: records of keys neither the manifest nor the lock uses,
   * takes other than the pinned one, objects no kept take names, and output files images-edit
   * wrote that the lock no longer lists (only when their bytes are still the ones it wrote).
   */
  async gc(options: { dryRun?: boolean } = {}): Promise<GcReport> {
    const loaded = await this.loadValid()
    const { lock } = await this.lockStore.read()
    const keep = new Map<string, Set<number> | 'all'>()
    for (const entry of Object.values(lock.jobs)) keep.set(entry.key, addTake(keep.get(entry.key), entry.take))
    for (const job of loaded.jobs) if (!keep.has(job.key)) keep.set(job.key, 'all')
    // A key names no recipe; people do. Jobs by key, from the lock and the manifest.
    const jobsOf = new Map<string, Set<string>>()
    for (const [id, entry] of [...Object.entries(lock.jobs), ...loaded.jobs.map((job) => [job.id, job] as const)]) {
      jobsOf.set(entry.key, (jobsOf.get(entry.key) ?? new Set()).add(id))
    }

    const report: GcReport = { records: [], results: [], takes: [], objects: [], outputs: [], bytes: 0, outputBytes: 0 }
    const referenced = new Set<string>()
    const dropped: { images: readonly ImageRecord[]; entry: GcResult | GcTake }[] = []
    const droppedRecords: { key: string; record: JobRecord | undefined }[] = []
    for (const key of await this.store.listRecords()) {
      const record = await this.store.getRecord(key)
      const wanted = keep.get(key)
      if (!record || !wanted) {
        report.records.push(key)
        droppedRecords.push({ key, record })
        continue
      }
      const kept = record.takes.filter((take) => wanted === 'all' || wanted.has(take.take))
      for (const take of record.takes) {
        if (kept.includes(take)) continue
        const entry: GcTake = {
          key,
          take: take.take,
          jobs: [...(jobsOf.get(key) ?? [])].sort(),
          kept: kept.map((item) => item.take),
          images: take.images.length,
          bytes: 0,
        }
        report.takes.push(entry)
        dropped.push({ images: take.images, entry })
      }
      for (const take of kept) for (const image of take.images) referenced.add(image.sha256)
      if (!options.dryRun && kept.length !== record.takes.length) {
        await this.store.putRecord({
          ...record,
          takes: kept,
          selectedTake: kept.some((take) => take.take === record.selectedTake) ? record.selectedTake : (kept.at(-1)?.take ?? 1),
        })
      }
    }
    for (const entry of Object.values(lock.jobs)) for (const output of entry.outputs) referenced.add(output.sha256)
    for (const hash of await this.store.listObjects()) {
      if (referenced.has(hash)) continue
      report.objects.push(hash)
    }

    const ledger = await this.readLedger()
    // Sizes are read the same way whether or not this is a dry run, so both report the same bytes.
    const objectBytes = new Map<string, number>()
    for (const hash of report.objects) objectBytes.set(hash, (await this.store.objectSize(hash)) ?? 0)
    let recordBytes = 0
    for (const { key, record } of droppedRecords) {
      const images = record?.takes.flatMap((take) => take.images) ?? []
      const shas = new Set(images.map((image) => image.sha256))
      const storedAt = record?.takes
        .flatMap((take) => take.runs.map((run) => run.at))
        .sort()
        .at(-1)
      const entry: GcResult = {
        key,
        ...(record ? { provider: record.provider, model: record.model } : {}),
        images: images.length,
        ...(storedAt ? { storedAt } : {}),
        outputs: Object.entries(ledger)
          .filter(([, sha]) => shas.has(sha))
          .map(([path]) => path),
        // The record itself, as the store keeps it.
        bytes: (await this.store.recordSize(key)) ?? 0,
      }
      recordBytes += entry.bytes
      report.results.push(entry)
      dropped.unshift({ images, entry })
    }
    // Each image deleted is counted once: for the first deleted record or take that held it.
    const counted = new Set<string>()
    for (const { images, entry } of dropped) {
      for (const { sha256: hash } of images) {
        if (counted.has(hash) || !objectBytes.has(hash)) continue
        counted.add(hash)
        entry.bytes += objectBytes.get(hash) ?? 0
      }
    }
    report.bytes = [...objectBytes.values()].reduce((sum, bytes) => sum + bytes, recordBytes)
    // Outputs the manifest names now count too: after a crash the lock may not list them yet.
    const lockedPaths = new Set([
      ...Object.values(lock.jobs).flatMap((entry) => entry.outputs.map((output) => output.path)),
      ...loaded.jobs.flatMap((job) => job.outputs),
    ])
    const forget: Record<string, undefined> = {}
    const realFolder = realFolderMemo()
    for (const [path, written] of Object.entries(ledger)) {
      if (lockedPaths.has(path)) continue
      // Deleted only where it really is inside the project, and never one of images-edit's own files.
      if (!(await checkProjectPath(this.root, path, { write: true, realFolder })).ok) continue
      const lookup = await this.fileIndex.lookup(join(this.root, path))
      if (!lookup.ok) {
        forget[path] = undefined
        continue
      }
      // A file someone changed after we wrote it is theirs now.
      if (lookup.info.sha256 !== written) continue
      report.outputs.push(path)
      report.outputBytes += lookup.info.size
    }

    if (!options.dryRun) {
      for (const key of report.records) await this.store.deleteRecord(key)
      for (const hash of report.objects) await this.store.deleteObject(hash)
      for (const path of report.outputs) {
        await assertWritable(this.root, path)
        await withFsErrors({ path: join(this.root, path), doing: `deleting ${path}` }, () => rm(join(this.root, path), { force: true }))
        this.fileIndex.forget(join(this.root, path))
        forget[path] = undefined
      }
      await this.recordWritten(forget)
      await this.sweep(loaded)
    }
    await this.fileIndex.save()
    return report
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

  /**
   * Removes temporary files of dead writers (a `kill -9` mid-write) from every folder images-edit
   * writes to: the store, the manifest's folder (the lock) and each output folder.
   */
  private async sweep(loaded: LoadedManifest): Promise<void> {
    await this.store.sweep()
    const folders = new Set([this.root, this.journal.dir, ...loaded.jobs.flatMap((job) => job.outputs.map((output) => dirname(join(this.root, output))))])
    for (const folder of folders) await sweepTemporaryFiles(folder)
    await this.pruneJournal()
  }

  /**
   * Drops journal entries whose images are already stored: a process killed between storing a
   * task's results and clearing its entry must not leave a task "in flight" forever.
   */
  private async pruneJournal(): Promise<void> {
    for (const entry of await this.journal.list()) {
      const take = (await this.store.getRecord(entry.key))?.takes.find((item) => item.take === entry.take)
      if (take && take.images.length >= entry.firstIndex + entry.count) await this.journal.delete(entry.key, entry.take, entry.firstIndex)
    }
  }

  /** Paid tasks submitted and not yet stored (they are collected by the next build, at no cost). */
  inFlight(): Promise<JournalEntry[]> {
    return this.journal.list()
  }

  /** The lock as it is on disk now. */
  async readLock(): Promise<LockFile> {
    return (await this.lockStore.read()).lock
  }

  /** Saves caches. Call when done with the project. */
  async close(): Promise<void> {
    await this.fileIndex.save()
  }

  /**
   * Every ref and mask file about to be sent to a paid provider is decoded in full (sharp) before
   * anything is paid: a truncated PNG has a sound header and passes validation. Failures are
   * located diagnostics (a {@link ManifestError}); a file that decoded is remembered by sha256.
   */
  private async checkPaidInputs(loaded: LoadedManifest, generating: readonly PlannedJob[]): Promise<void> {
    const problems: Diagnostic[] = []
    const seen = new Map<string, Promise<{ ok: true } | { ok: false; message: string }>>()
    for (const { job } of generating) {
      if (!job.paid) continue
      const inputs = [
        ...job.refs.map((input, index) => ({ input, path: [...job.docPath, 'refs', index], role: 'ref' })),
        ...(job.mask ? [{ input: job.mask, path: [...job.docPath, 'mask'], role: 'mask' }] : []),
      ]
      for (const { input, path, role } of inputs) {
        if (input.input.kind !== 'file') continue
        const { path: file, sha256: sha } = input.input
        let decoding = seen.get(file)
        if (!decoding) {
          decoding = this.fileIndex.decodes(file, sha)
          seen.set(file, decoding)
        }
        const result = await decoding
        if (result.ok) continue
        problems.push(
          loaded.source.diagnostic(
            'error',
            `${role}/undecodable`,
            path,
            `${input.source} cannot be decoded (${result.message}); it is not sent to ${job.provider}${job.eachFile ? ` (for ${job.eachFile})` : ''}`,
            'The file is truncated or damaged: export it again. Nothing was paid.',
          ),
        )
      }
    }
    await this.fileIndex.save()
    if (problems.length > 0) {
      throw new ManifestError(`${problems.length} input${problems.length === 1 ? '' : 's'} cannot be decoded; nothing was sent or paid`, problems)
    }
  }

  /** Copies images that exist only as output files (a fresh clone: lock and outputs, no store) into the store. */
  private async ingest(item: PlannedJob): Promise<void> {
    for (const image of item.available) {
      if (await this.store.hasObject(image.sha256)) continue
      const source = item.locked?.outputs.find((output) => output.sha256 === image.sha256)
      if (!source) throw new ImagesEditError('STORE', `image ${image.sha256.slice(0, 12)} of ${item.job.id} is neither in the store nor on disk`)
      // A path from the lock: read only where it really stays inside the project.
      const check = await checkProjectPath(this.root, source.path, { allowOutside: this.allowOutside })
      if (!check.ok) {
        throw new ImagesEditError('STORE', `${LOCK_NAME} names ${check.reason}; it is not read. Restore the lock from git, or delete it to rebuild it.`)
      }
      const bytes = await readBounded(join(this.root, source.path), 'output')
      if (sha256(bytes) !== image.sha256) throw new ImagesEditError('STORE', `${source.path} changed while images-edit was reading it; rerun`)
      await withFsErrors({ path: this.store.location, doing: `copying ${source.path} into the store` }, () => this.store.putObject(bytes))
      image.bytes = bytes.byteLength
    }
  }

  /**
   * Merges this run's entries into the lock as it is on disk now, holding a lock on the lock, so
   * concurrent builds (a dev server and `watch`, or two watch-triggered runs) never drop each
   * other's entries. A full build also drops entries of jobs no longer in the manifest.
   */
  private async updateLock(updates: Record<string, LockedJob>, options: { dropMissing: ReadonlySet<string> | undefined }): Promise<boolean> {
    const { dropMissing } = options
    const before = await this.lockStore.read()
    const unchanged = Object.keys(updates).length === 0 && (!dropMissing || Object.keys(before.lock.jobs).every((id) => dropMissing.has(id)))
    // (A hand-edited lock only gets here with --force-lock, and then it is rewritten.)
    if (unchanged && !before.handEdited) return false
    return this.keyLocks.with('images-edit-lock', new AbortController().signal, async () => {
      const state = await this.lockStore.read()
      const current = state.lock
      const next: LockFile = { lockfileVersion: 1, jobs: {} }
      for (const [id, entry] of Object.entries(current.jobs)) if (!options.dropMissing || options.dropMissing.has(id)) next.jobs[id] = entry
      Object.assign(next.jobs, updates)
      return this.lockStore.write(next, state)
    })
  }

  private async writeOutputs(item: PlannedJob, images: readonly ImageRecord[]): Promise<void> {
    for (const output of item.outputs) {
      if (output.action === 'edited') continue
      const image = images[output.index]
      if (!image) continue
      const target = join(this.root, output.path)
      if (output.action === 'keep') continue
      // Checked again right before the write: a folder may have become a link since validation.
      await assertWritable(this.root, output.path, { allowOutside: this.allowOutside, manifestName: basename(this.manifestPath) })
      const after = 'The image is kept in the store (.images-edit/); once fixed, a rerun writes it at no cost.'
      // Ledger first: should we die between the two writes, the file still has recoverable bytes.
      await withFsErrors({ path: this.ledgerPath, doing: 'recording the outputs images-edit writes', after }, () =>
        this.recordWritten({ [output.path]: image.sha256 }),
      )
      const copied = await withFsErrors({ path: target, doing: `writing ${output.path}`, after }, () => this.store.copyObjectTo(image.sha256, target))
      if (!copied) {
        throw new ImagesEditError('STORE', `stored image ${image.sha256.slice(0, 12)} for ${output.path} is missing or damaged; rerun to regenerate it`)
      }
      this.fileIndex.forget(target)
    }
  }

  private ledgerWrites: Promise<unknown> = Promise.resolve()
  private ledgerPending: { changes: Record<string, string | undefined>; written: Promise<void> } | undefined

  /**
   * Adds (or, with undefined, removes) ledger entries: re-read, merged, written. Changes arriving
   * while a write is under way are batched into the next one, so jobs finishing together wait for
   * one write, not one each.
   */
  private recordWritten(changes: Record<string, string | undefined>): Promise<void> {
    if (this.ledgerPending) {
      Object.assign(this.ledgerPending.changes, changes)
      return this.ledgerPending.written
    }
    const batch = { changes: { ...changes }, written: Promise.resolve() }
    batch.written = this.ledgerWrites.then(async () => {
      if (this.ledgerPending === batch) this.ledgerPending = undefined
      const ledger = await this.readLedger()
      for (const [path, sha] of Object.entries(batch.changes)) {
        if (sha === undefined) delete ledger[path]
        else ledger[path] = sha
      }
      await this.writeLedger(ledger)
    })
    this.ledgerPending = batch
    this.ledgerWrites = batch.written.catch(() => {})
    return batch.written
  }

  /**
   * The output ledger. Only plain relative paths inside the project count (checked like manifest
   * paths): an entry naming `../x` or `/x`, written by anyone, is ignored and never deleted.
   */
  private async readLedger(): Promise<Record<string, string>> {
    let value: unknown
    try {
      value = JSON.parse((await readCacheText(this.ledgerPath)) ?? '{}') as unknown
    } catch {
      return {}
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {}
    const ledger: Record<string, string> = {}
    for (const [path, sha] of Object.entries(value)) if (typeof sha === 'string' && isPlainRelative(path)) ledger[path] = sha
    return ledger
  }

  private async writeLedger(ledger: Record<string, string>): Promise<void> {
    const sorted = Object.fromEntries(Object.entries(ledger).sort(([a], [b]) => (a < b ? -1 : 1)))
    await writeFileAtomic(this.ledgerPath, `${JSON.stringify(sorted, null, 1)}\n`)
  }
}

function lockEntry(item: PlannedJob, images: readonly ImageRecord[]): LockedJob {
  const { job } = item
  return {
    key: job.key,
    recipe: job.recipe,
    provider: job.provider,
    model: job.model,
    take: item.take,
    prompt: job.prompt,
    // The order the lock is written in, so an unchanged lock compares equal without re-serializing.
    params: sortedParams(job.params),
    ...(job.seed !== undefined ? { seed: job.seed } : {}),
    refs: job.refs.map(lockedInput),
    ...(job.mask ? { mask: lockedInput(job.mask) } : {}),
    outputs: job.outputs.map((path, index) => {
      const image = images[index] as ImageRecord
      return { path, sha256: image.sha256, width: image.width, height: image.height, format: image.format }
    }),
  }
}

function lockedInput(input: Job['refs'][number]): { path?: string; url?: string; sha256?: string } {
  return input.input.kind === 'file' ? { path: input.path ?? input.source, sha256: input.input.sha256 } : { url: input.input.url }
}

function addTake(current: Set<number> | 'all' | undefined, take: number): Set<number> | 'all' {
  if (current === 'all') return current
  const set = current ?? new Set<number>()
  set.add(take)
  return set
}

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
