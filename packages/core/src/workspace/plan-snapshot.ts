// The "nothing changed" fast path: a build that found every job up to date remembers its jobs and
// its plan, with the identity of every file and folder they were made from. The next load that
// finds all of them unmoved (and the manifest's bytes the same) takes both from here instead of
// parsing, expanding, hashing and planning again.
import { dirname, join } from 'node:path'
import { deserialize, serialize } from 'node:v8'
import type { BuildOptions, BuildResult } from '../build/types.js'
import { globBase } from '../fs/glob-base.js'
import { readBounded } from '../fs/project-fs.js'
import { sha256 } from '../hash/content-hash.js'
import { type FileIndex, RACY_WINDOW_MS } from '../hash/file-index.js'
import type { LockFile } from '../lock/lock-file.js'
import type { LockStore } from '../lock/lock-store.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import { lazyManifestSource } from '../manifest/parse-manifest.js'
import type { Plan } from '../plan/plan.js'
import { writeFileAtomic } from '../store/atomic-write.js'
import { addGlobFolders, eachPatterns, engineIdentity, type Identity, identityOf, isInside, isLink, SNAPSHOT_VERSION, same } from './file-identity.js'
import type { Workspace } from './workspace.js'

/** What a watched path is compared by: its own entry (`lstat`), or the file a link points at (`stat`). */
interface Watched {
  path: string
  follow?: true
  id: Identity
}

interface SnapshotFile {
  version: number
  engine: string
  /** sha256 of the manifest's bytes and of what the load was asked (a provider override). */
  manifest: string
  watched: Watched[]
  /** sha256 of the lock's text when its entries are exactly the plan's (the lock is then taken from the plan, not parsed). */
  lock?: string
  /** v8-serialized {@link Payload}, read only once every watched path held. */
  payload: Uint8Array
}

interface Payload {
  loaded: Omit<LoadedManifest, 'source'>
  /** The plan's jobs, each naming its job by index in `loaded.jobs`. */
  plan: Omit<Plan, 'jobs'> & { jobs: (Omit<Plan['jobs'][number], 'job'> & { job: number })[] }
}

/** The folders and files besides refs and outputs whose change can change a plan. */
export interface SnapshotPaths {
  root: string
  manifestPath: string
  lockPath: string
  snapshotPath: string
  /**
   * Folders of the result store, the journal and the team store's queue (a record or object added
   * or removed changes them), listed when a snapshot is made; undefined when the store is not on
   * this disk (its changes cannot be seen, so nothing is remembered).
   */
  folders: () => string[] | undefined
  /** Files such as the output ledger and `.env`. */
  files: string[]
}

/** What {@link PlanSnapshot.remember} is told about the build that just finished. */
export interface FinishedBuild {
  loaded: LoadedManifest
  plan: Plan
  /** Nothing narrowed or forced the build, nothing was written, warned, failed or interrupted. */
  clean: boolean
}

export class PlanSnapshot {
  private recalled: { loaded: LoadedManifest; plan: Plan; lock: Identity } | undefined

  constructor(
    private readonly paths: SnapshotPaths,
    private readonly fileIndex: FileIndex,
    private readonly lockStore: LockStore,
  ) {}

  /** Whether `plan` is the remembered one (the build then skips its sweep: no folder it would sweep has moved). */
  isRecalled(plan: Plan): boolean {
    return this.recalled?.plan === plan
  }

  /**
   * The jobs of the last clean no-op build, when the manifest's bytes are the same and no watched
   * file or folder moved; otherwise undefined (the caller loads as usual). Never throws: a missing
   * or damaged snapshot is only a slower load.
   */
  async recall(request: string): Promise<LoadedManifest | undefined> {
    this.recalled = undefined
    try {
      const file = deserialize(await readBounded(this.paths.snapshotPath, 'cache')) as SnapshotFile
      // Bounded, and only a regular file, as the loader reads it: a manifest swapped for a FIFO or
      // a link to /dev/zero fails here and the load reports it.
      const raw = await readBounded(this.paths.manifestPath, 'manifest')
      if (file.version !== SNAPSHOT_VERSION || file.engine !== engineIdentity() || file.manifest !== manifestHash(raw, request)) return undefined
      for (const watched of file.watched) if (!same(identityOf(watched.path, watched.follow), watched.id)) return undefined
      const payload = deserialize(file.payload) as Payload
      const loaded: LoadedManifest = { ...payload.loaded, source: lazyManifestSource(payload.loaded.file, raw) }
      const plan: Plan = { ...payload.plan, jobs: payload.plan.jobs.map((item) => ({ ...item, job: loaded.jobs[item.job] as LoadedManifest['jobs'][number] })) }
      const lock = file.watched.find((item) => item.path === this.paths.lockPath && !item.follow)?.id ?? null
      this.recalled = { loaded, plan, lock }
      if (file.lock) this.lockStore.prime(file.lock, lockOf(plan))
      return loaded
    } catch {
      return undefined
    }
  }

  /** The remembered plan, for the manifest {@link recall} returned, when the plan asked for is the whole one. */
  planFor(loaded: LoadedManifest, narrowed: boolean): Plan | undefined {
    if (narrowed || this.recalled?.loaded !== loaded) return undefined
    // The lock could have moved since `recall` looked (milliseconds ago): look once more.
    return same(identityOf(this.paths.lockPath), this.recalled.lock) ? this.recalled.plan : undefined
  }

  /**
   * After a build: a clean build that found every job up to date is remembered, with the identity
   * of every file it read (through the stat cache) and every folder whose entries it depended on;
   * any other build forgets the snapshot. Not remembered when something it depends on changed too
   * recently to be told apart from a later change by its timestamps (git's "racily clean" case).
   */
  async remember(build: FinishedBuild, request: string): Promise<void> {
    const upToDate = build.clean && build.plan.jobs.every((item) => item.status === 'fresh' && item.reasons.length === 0 && !item.lockChanges)
    // A snapshot that no longer holds needs no removal: the identities it watched have moved.
    if (!upToDate || build.loaded.diagnostics.length > 0 || this.recalled?.loaded === build.loaded) return
    const watched = this.watchList(build.loaded)
    if (!watched) return
    const newest = Date.now() - RACY_WINDOW_MS
    if (watched.some((item) => item.id && (item.id[1] > newest || item.id[2] > newest))) return
    const { source: _source, ...loaded } = build.loaded
    const index = new Map(build.loaded.jobs.map((job, position) => [job, position]))
    const payload: Payload = { loaded, plan: { ...build.plan, jobs: build.plan.jobs.map((item) => ({ ...item, job: index.get(item.job) ?? -1 })) } }
    const raw = await readBounded(this.paths.manifestPath, 'manifest').catch(() => undefined)
    if (!raw) return
    const lock = this.lockStore.lastRead()
    const file: SnapshotFile = {
      version: SNAPSHOT_VERSION,
      engine: engineIdentity(),
      manifest: manifestHash(raw, request),
      watched,
      payload: serialize(payload),
    }
    if (lock && sameEntries(lock.lock, build.plan)) file.lock = lock.textHash
    // Only a cache: a snapshot that cannot be written means the next build takes the full path.
    await writeFileAtomic(this.paths.snapshotPath, serialize(file)).catch(() => {})
  }

  /** Every path the plan depends on, or undefined when there are too many folders to watch. */
  private watchList(loaded: LoadedManifest): Watched[] | undefined {
    const { root } = this.paths
    const read = this.fileIndex.passPaths()
    const files = new Set([...read, this.paths.lockPath, ...this.paths.files])
    const store = this.paths.folders()
    if (!store) return undefined
    const folders = new Set([root, ...store])
    // A ref's or output's folder and the folders above it: a file renamed, removed, or swapped for
    // a link changes one of them. (Not the store's own folder: this snapshot is written there.)
    for (const path of read) for (let folder = dirname(path); isInside(root, folder) && !folders.has(folder); folder = dirname(folder)) folders.add(folder)
    for (const pattern of eachPatterns(loaded)) if (!addGlobFolders(join(root, globBase(pattern)), pattern, folders)) return undefined
    const watched: Watched[] = []
    for (const path of files) {
      const own = identityOf(path)
      watched.push({ path, id: own })
      if (own && isLink(path)) watched.push({ path, follow: true, id: identityOf(path, true) })
    }
    for (const path of folders) watched.push({ path, id: identityOf(path) })
    return watched
  }
}

/**
 * Remembers a build's jobs and plan when it was a clean no-op: the whole manifest, nothing forced,
 * nothing done, written, warned, failed or interrupted, and nothing left in the journal or the
 * team store's queue (a later build would have work to do for those).
 */
export async function rememberIfNoop(
  workspace: Workspace,
  result: BuildResult,
  options: Pick<BuildOptions, 'only' | 'force'> & { warnings: number; request: string },
): Promise<void> {
  const narrowed = (options.only?.length ?? 0) + (options.force?.length ?? 0) > 0
  const idle =
    !narrowed &&
    options.warnings === 0 &&
    !result.lockWritten &&
    !result.interrupted &&
    result.done.length + result.restored.length + result.failed.length + result.blocked.length + result.notStarted.length === 0
  const clean = idle && (await workspace.journal.list()).length === 0 && ((await workspace.remote?.pending())?.length ?? 0) === 0
  await workspace.snapshot.remember({ loaded: result.loaded, plan: result.plan, clean }, options.request)
}

/** Passes events on, counting the warnings among them (a build that warned is not remembered: its warnings are due again). */
export function countWarnings(listener: BuildOptions['onEvent']): { onEvent: NonNullable<BuildOptions['onEvent']>; count: () => number } {
  let warnings = 0
  return {
    onEvent: (event) => {
      if (event.type === 'warning') warnings++
      listener?.(event)
    },
    count: () => warnings,
  }
}

/** The lock a plan of up-to-date jobs was made from: each job's entry, nothing else. */
function lockOf(plan: Plan): LockFile {
  const lock: LockFile = { lockfileVersion: 1, jobs: {} }
  for (const item of plan.jobs) if (item.locked) lock.jobs[item.job.id] = item.locked
  return lock
}

/** Whether the lock holds exactly the plan's entries (then {@link lockOf} rebuilds it from the plan). */
function sameEntries(lock: LockFile, plan: Plan): boolean {
  return Object.keys(lock.jobs).length === plan.jobs.length && plan.jobs.every((item) => item.locked !== undefined && lock.jobs[item.job.id] === item.locked)
}

function manifestHash(raw: Uint8Array, request: string): string {
  return sha256(`${request}\u0000${Buffer.from(raw).toString('binary')}`)
}
