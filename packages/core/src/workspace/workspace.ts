import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { FileIndex } from '../hash/file-index.js'
import { LockStore } from '../lock/lock-file.js'
import { lockVerifier } from '../lock/verify-lock.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import { LOCK_NAME, STORE_DIR } from '../manifest/types.js'
import type { ProviderId } from '../providers/provider.js'
import type { TeamRemote } from '../remote/team-remote.js'
import { createRunnerGates, type ProviderLimits, type RunnerGates } from '../run/run-jobs.js'
import { sweepTemporaryFiles } from '../store/atomic-write.js'
import { FileSystemStore } from '../store/fs-store.js'
import { Journal } from '../store/journal.js'
import { KeyLocks } from '../store/key-lock.js'
import type { ResultStore } from '../store/store.js'
import { FileUploadCache } from '../store/upload-cache.js'
import { OutputLedger } from './output-ledger.js'
import { PlanSnapshot } from './plan-snapshot.js'

/**
 * A project's files, opened: the paths around the manifest, the result store, the stat cache,
 * the journal of paid tasks, the key locks, the upload cache, the lock and the output ledger.
 * Everything a build reads or writes goes through one of these.
 */
export class Workspace {
  readonly root: string
  readonly lockPath: string
  readonly storeDir: string
  readonly store: ResultStore
  readonly fileIndex: FileIndex
  readonly journal: Journal
  readonly lockStore: LockStore
  readonly keyLocks: KeyLocks
  readonly uploads: FileUploadCache
  readonly ledger: OutputLedger
  /** The last clean no-op build's jobs and plan, taken instead of a load and plan while nothing they came from moved. */
  readonly snapshot: PlanSnapshot
  /** The team store behind {@link Workspace.store}, when one is configured (see `Project.plan`). */
  remote: TeamRemote | undefined
  /** `security.allowOutsideProject` of the manifest last loaded. */
  allowOutside = false
  private gates: { concurrency: number; gates: RunnerGates } | undefined

  constructor(
    readonly manifestPath: string,
    store?: ResultStore,
  ) {
    this.root = dirname(manifestPath)
    this.lockPath = join(this.root, LOCK_NAME)
    this.storeDir = join(this.root, STORE_DIR)
    this.store = store ?? new FileSystemStore(this.storeDir)
    this.fileIndex = new FileIndex(this.root, join(this.storeDir, 'stat-cache.json'))
    this.journal = new Journal(join(this.storeDir, 'journal'))
    this.lockStore = new LockStore(this.lockPath, join(this.storeDir, 'lock-cache.json'))
    this.keyLocks = new KeyLocks(join(this.storeDir, 'locks'))
    this.uploads = new FileUploadCache(join(this.storeDir, 'uploads.json'))
    this.ledger = new OutputLedger(join(this.storeDir, 'outputs.json'))
    const { store: own, journal, root } = this
    this.snapshot = new PlanSnapshot(
      {
        root,
        manifestPath,
        lockPath: this.lockPath,
        snapshotPath: join(this.storeDir, 'plan-snapshot.bin'),
        folders: () => (own instanceof FileSystemStore ? [...storeFolders(own), journal.dir, join(this.storeDir, 'push-queue')] : undefined),
        files: [this.ledger.path, join(root, '.env')],
      },
      this.fileIndex,
      this.lockStore,
    )
  }

  /** Opens the files of the project around `manifestPath`: the lock checks its entries against outputs and store; the stat cache is read. */
  static async open(manifestPath: string, store?: ResultStore): Promise<Workspace> {
    const workspace = new Workspace(manifestPath, store)
    workspace.lockStore.verify = lockVerifier({
      root: workspace.root,
      store: workspace.store,
      fileIndex: workspace.fileIndex,
      remoteHas: (hashes) => workspace.remote?.hasAll(hashes) ?? Promise.resolve(false),
    })
    // The stat cache is read on the first lookup (a remembered no-op makes none).
    return workspace
  }

  /** Remembers the path policy of a loaded manifest: paths read from the lock and the ledger are checked against the same setting. */
  adopt(loaded: LoadedManifest): void {
    this.allowOutside = this.lockStore.allowOutside = loaded.manifest?.security?.allowOutsideProject === true
  }

  /** One set of caps per project and concurrency, so overlapping runs share them; each run brings its own poll cadence. */
  runnerGates(concurrency: number, limits: (id: ProviderId) => ProviderLimits): RunnerGates {
    if (this.gates?.concurrency !== concurrency) this.gates = { concurrency, gates: createRunnerGates(concurrency, limits) }
    else this.gates.gates.retune(limits)
    return this.gates.gates
  }

  /**
   * Removes temporary files of dead writers (a `kill -9` mid-write) from every folder images-edit
   * writes to: the store, the manifest's folder (the lock) and each output folder. Then prunes the
   * journal.
   */
  async sweep(loaded: LoadedManifest): Promise<void> {
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

  /** Saves caches. */
  async close(): Promise<void> {
    await this.fileIndex.save()
  }
}

/** The folders of a file-system store: an object or record added or removed changes one of them. */
function storeFolders(store: FileSystemStore): string[] {
  let prefixes: string[] = []
  try {
    prefixes = readdirSync(store.objectsDir)
  } catch {
    // No objects yet.
  }
  return [store.recordsDir, store.objectsDir, ...prefixes.map((prefix) => join(store.objectsDir, prefix))]
}
