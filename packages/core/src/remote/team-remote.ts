// The team store as the second level behind the local store: read through before anything is paid, written through after a build.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pLimit from 'p-limit'
import { ImagesEditError, RefusalError } from '../errors.js'
import type { Plan, PlannedJob } from '../plan/plan.js'
import type { JobRecord, ResultStore, TakeRecord } from '../store/store.js'
import { fetchAll } from './fetch-objects.js'
import { mergeRecords } from './merge-records.js'
import type { RemoteConfig } from './remote-config.js'

export { mergeRecords } from './merge-records.js'

export const HEX64 = /^[0-9a-f]{64}$/
/** Jobs looked up, and records pushed, at once. */
const PARALLEL = 8

/**
 * A project's remote: opened (and its client library loaded) only the first time it is needed, so
 * a build with nothing to look up makes no network request and loads no S3 code. Results to push
 * are queued as files in `.images-edit/push-queue/` before any upload starts, so a process killed
 * mid-upload leaves them for the next build or `images-edit push`.
 */
export class TeamRemote {
  private opened: Promise<ResultStore> | undefined
  private readonly warnings: string[] = []

  constructor(
    /** The `s3://` URL, for messages. */
    readonly url: string,
    private readonly config: () => RemoteConfig,
    private readonly queueDir: string,
  ) {}

  /** Warnings since the last call (records ignored for their signature, records not pushed). */
  takeWarnings(): string[] {
    return this.warnings.splice(0)
  }

  /** The remote store, opened on first use. Throws (user-facing) when the configuration is incomplete. */
  store(): Promise<ResultStore> {
    this.opened ??= (async () => {
      const config = this.config()
      const [{ S3Client }, { S3Store }] = await Promise.all([import('./s3-client.js'), import('./s3-store.js')])
      const client = new S3Client(config.location, config.credentials)
      // A wrong bucket name must not read as "nothing stored there" (and so as "pay for it").
      await client.check()
      return new S3Store(client, {
        ...(config.signingKey ? { signingKey: config.signingKey } : {}),
        onWarning: (message) => this.warnings.push(message),
      })
    })()
    return this.opened
  }

  /**
   * Read through: every job the plan would generate (not forced) is looked up in the remote, and
   * what it has is copied into `local`, objects (verified by sha256) before the record naming
   * them. Returns how many jobs got something. When the remote cannot be asked, nothing may be
   * generated (a teammate may have paid already): throws a refusal naming the jobs.
   */
  async hydrate(local: ResultStore, plan: Plan): Promise<number> {
    // Free jobs (the local provider) are not worth asking for, nor refusing over. A job blocked
    // because images of its take are not here (a take with candidates) is looked up too.
    const candidates = plan.jobs.filter(
      (item) => (item.status === 'generate' || (item.status === 'blocked' && unserved(item).length > 0)) && !item.forced && item.job.paid,
    )
    if (candidates.length === 0) return 0
    const remote = await this.tryStore()
    if (remote instanceof Error) throw this.refusal(candidates.map((item) => ({ item, error: remote })))
    let found = 0
    const unreachable = await eachLimited(candidates, async (item) => {
      if (await hydrateJob(local, remote, item)) found++
    })
    if (unreachable.length > 0) throw this.refusal(unreachable)
    return found
  }

  /** The refusal when the remote could not be asked about some jobs: nothing is generated. */
  private refusal(unreachable: readonly { item: PlannedJob; error: unknown }[]): RefusalError {
    const cause = (unreachable[0]?.error as Error | undefined)?.message ?? 'no answer'
    return new RefusalError(
      'REMOTE',
      `could not ask the team store ${this.url} whether ${unreachable.length} job${unreachable.length === 1 ? '' : 's'} already exist (${cause}). Nothing was generated: a teammate may have paid for them already. Retry when the bucket answers, or build with --no-remote to generate them here.`,
      unreachable.map(({ item }) => ({ id: item.job.id, reason: 'not in the local store; the team store could not be asked', newImages: item.newImages })),
    )
  }

  /**
   * For `status`: per job that lacks images locally, whether the remote has each of them (by the
   * lock's sha256 pins, else the signed record). Reads nothing into the local store. Returns what
   * kept the remote from answering instead, when it could not be asked.
   */
  async locate(items: readonly PlannedJob[]): Promise<Map<PlannedJob, boolean[] | Error> | Error> {
    // The jobs a build would look up (paid, not forced); free ones are simply made again.
    const wanting = items.filter((item) => item.job.paid && !item.forced && unserved(item).length > 0)
    const found = new Map<PlannedJob, boolean[] | Error>()
    if (wanting.length === 0) return found
    const remote = await this.tryStore()
    if (remote instanceof Error) return remote
    const failed = await eachLimited(wanting, async (item) => void found.set(item, await locateJob(remote, item)))
    for (const { item, error } of failed) found.set(item, error instanceof Error ? error : new Error(String(error)))
    return found
  }

  /**
   * For `pick`: copies a take of `key` the local store lacks (all its candidates, each verified)
   * and the signed record naming it from the remote. False when the remote has no such take or
   * cannot be asked (the pick then says what is here).
   */
  async fetchTake(local: ResultStore, key: string, take: number): Promise<boolean> {
    const remote = await this.tryStore()
    if (remote instanceof Error) return false
    const record = await remote.getRecord(key).catch(() => undefined)
    const found = record?.takes.find((item) => item.take === take)
    if (
      !record ||
      !found ||
      !(await fetchAll(
        local,
        remote,
        found.images.map((image) => image.sha256),
      ).catch(() => false))
    )
      return false
    await local.putRecord(mergeRecords(await local.getRecord(key), record))
    return true
  }

  /** Whether the remote has every one of these objects; false when it cannot be asked (or a configuration mistake keeps it from opening). */
  async hasAll(hashes: readonly string[]): Promise<boolean> {
    try {
      const remote = await this.tryStore()
      if (remote instanceof Error || !hashes.every((hash) => HEX64.test(hash))) return false
      return (await Promise.all(hashes.map((hash) => remote.hasObject(hash)))).every(Boolean)
    } catch {
      return false
    }
  }

  /** Remembers keys whose results are to be pushed, durably, before any upload starts. */
  async queue(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    await mkdir(this.queueDir, { recursive: true })
    for (const key of keys) await writeFile(join(this.queueDir, key), '')
  }

  /** Keys queued and not yet pushed. */
  async pending(): Promise<string[]> {
    return (await readdir(this.queueDir).catch(() => [] as string[])).filter((name) => HEX64.test(name)).sort()
  }

  /**
   * Write through: pushes every queued key's objects, then its record (merged with the remote's,
   * so a teammate's takes are kept), a few keys at a time. A key leaves the queue only once its
   * record is in the remote; failures stay queued. Returns how many were pushed and what failed.
   */
  async push(local: ResultStore): Promise<{ pushed: number; failed: { key: string; message: string }[] }> {
    const keys = await this.pending()
    if (keys.length === 0) return { pushed: 0, failed: [] }
    const remote = await this.tryStore()
    if (remote instanceof Error) return { pushed: 0, failed: keys.map((key) => ({ key, message: remote.message })) }
    const signing = Boolean(this.config().signingKey)
    if (!signing) this.warnings.push(`records are not pushed to ${this.url} without the team key (IMAGES_EDIT_REMOTE_KEY): only their images are`)
    let pushed = 0
    const failed = await eachLimited(keys, async (key) => {
      const record = await local.getRecord(key)
      if (record) {
        for (const image of record.takes.flatMap((take) => take.images)) {
          if (await remote.hasObject(image.sha256)) continue
          const bytes = await local.getObject(image.sha256)
          if (bytes) await remote.putObject(bytes)
        }
        // Without the team key only the images go (the warning says so); the key leaves the
        // queue all the same, or every later build would ask the bucket again (`push --all` requeues).
        if (signing) await remote.putRecord(mergeRecords(await remote.getRecord(key), record))
        pushed++
      }
      await rm(join(this.queueDir, key), { force: true })
    })
    return { pushed, failed: failed.map(({ item, error }) => ({ key: item, message: (error as Error).message })) }
  }

  /** The remote store, or what kept it from opening; a configuration mistake (the user's to fix) is thrown. */
  private async tryStore(): Promise<ResultStore | Error> {
    try {
      return await this.store()
    } catch (error) {
      this.opened = undefined
      if (ImagesEditError.is(error)) throw error
      return error instanceof Error ? error : new Error(String(error))
    }
  }
}

/** Runs `work` on every item, {@link PARALLEL} at a time; returns the items it failed for, with the error. */
async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<{ item: T; error: unknown }[]> {
  const limit = pLimit(PARALLEL)
  const failed: { item: T; error: unknown }[] = []
  await Promise.all(items.map((item) => limit(() => work(item).catch((error: unknown) => void failed.push({ item, error })))))
  return failed
}

/** Copies what the remote has of one job into the local store; true when the job then has more images locally. */
async function hydrateJob(local: ResultStore, remote: ResultStore, item: PlannedJob): Promise<boolean> {
  const { job } = item
  // The lock (from git) pins the outputs' sha256: those objects need no record and no signature.
  const pinned = pinnedHashes(item)
  if (pinned && (await fetchAll(local, remote, pinned))) return true
  const found = await remoteTake(remote, item)
  if (!found) return false
  // The take's candidates too: with only the outputs' images here, the build would pay for the rest.
  const fetched = await fetchAll(
    local,
    remote,
    found.take.images.slice(0, Math.max(job.n, job.candidates)).map((image) => image.sha256),
  )
  if (!fetched) return false
  await local.putRecord(mergeRecords(await local.getRecord(job.key), found.record))
  return true
}

/** Indexes of the outputs whose image is not here (neither stored nor on disk). */
function unserved(item: PlannedJob): number[] {
  return item.job.outputs.map((_, index) => index).filter((index) => !item.served[index])
}

/**
 * Per output, whether the remote has its image (true for none of those here already), answered
 * as {@link hydrateJob} would fetch: all by the lock's pins, else all by the record's take.
 */
async function locateJob(remote: ResultStore, item: PlannedJob): Promise<boolean[]> {
  const missing = unserved(item)
  const answer = item.job.outputs.map(() => false)
  const pinned = pinnedHashes(item)
  if (pinned) {
    const found = await Promise.all(pinned.map((hash) => remote.hasObject(hash)))
    if (found.every(Boolean)) {
      for (const index of missing) answer[index] = true
      return answer
    }
  }
  const take = (await remoteTake(remote, item))?.take
  await Promise.all(
    missing.map(async (index) => {
      const image = take?.images[item.picks[index] ?? index]
      answer[index] = image ? await remote.hasObject(image.sha256) : false
    }),
  )
  return answer
}

/**
 * The sha256 the lock pins for the images the job lacks here, when the lock entry is this job's
 * key and take. A pin that is not a sha256 (a lock edited by hand) is no pin: the record decides.
 */
function pinnedHashes(item: PlannedJob): string[] | undefined {
  const pins = lockPins(item)
  return pins.length > 0 && pins.length === unserved(item).length && pins.every((hash) => HEX64.test(hash)) ? pins : undefined
}

/** The sha256 the lock pins for the job's outputs whose image is not here (none unless the lock entry is this key and take). */
export function lockPins(item: PlannedJob): string[] {
  const { job, locked } = item
  if (!locked || locked.key !== job.key || locked.take !== item.take) return []
  return unserved(item).flatMap((index) => {
    const output = locked.outputs[index]
    return output ? [output.sha256] : []
  })
}

/** The job's take in the remote's (signed) record: the lock's or local record's take, else the remote's selected one. */
async function remoteTake(remote: ResultStore, item: PlannedJob): Promise<{ record: JobRecord; take: TakeRecord } | undefined> {
  const { job, locked } = item
  const record = await remote.getRecord(job.key)
  if (!record) return undefined
  const takeNumber = locked?.key === job.key || item.record ? item.take : record.selectedTake
  const take = record.takes.find((entry) => entry.take === takeNumber)
  return take && take.images.length > 0 ? { record, take } : undefined
}
