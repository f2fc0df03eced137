// The restore stage: jobs the store (or, on a fresh clone, the committed outputs) already holds are written at no cost; unchanged and blocked jobs are reported.
import { join } from 'node:path'
import pLimit from 'p-limit'
import { ImagesEditError } from '../errors.js'
import { checkProjectPath, readBounded, withFsErrors } from '../fs/project-fs.js'
import { sha256 } from '../hash/content-hash.js'
import { LOCK_NAME } from '../manifest/types.js'
import type { Plan, PlannedJob } from '../plan/plan.js'
import type { Workspace } from '../workspace/workspace.js'
import { commitJob, lockEntry } from './commit.js'
import type { BuildRun } from './types.js'

/** Reports fresh and blocked jobs; a fresh job whose lock entry is out of date gets a new one (no image is touched). */
export function settleUnchanged(run: BuildRun, plan: Plan): void {
  const { result, emit } = run
  for (const item of plan.jobs) {
    if (item.status === 'fresh') {
      result.fresh.push(item.job.id)
      // An unchanged entry is left as it is: a no-op build never rewrites (or even compares) the lock.
      if (item.lockChanges) run.updates[item.job.id] = lockEntry(item, item.available)
      emit({ type: 'job:fresh', id: item.job.id })
      for (const reason of item.reasons) emit({ type: 'warning', id: item.job.id, message: reason })
    } else if (item.status === 'blocked') {
      result.blocked.push({ id: item.job.id, reasons: item.reasons })
      emit({ type: 'job:blocked', id: item.job.id, reasons: item.reasons })
    }
  }
}

/** Restores in flight at once: each is file I/O (read, verify, write, fsync), so a few overlap their waits. */
const RESTORE_PARALLEL = 8

/**
 * Writes every `restore` job from images already stored, {@link RESTORE_PARALLEL} at a time (the
 * output ledger batches their records into shared writes); stops starting new ones once `signal`
 * is aborted. Jobs are reported restored in plan order, whatever order they finish in.
 */
export async function restore(run: BuildRun, plan: Plan, signal: AbortSignal): Promise<void> {
  const { result, emit } = run
  const limit = pLimit(RESTORE_PARALLEL)
  const items = plan.jobs.filter((entry) => entry.status === 'restore')
  const done = await Promise.all(
    items.map((item) =>
      limit(async () => {
        if (signal.aborted) return false
        try {
          await ingest(run.workspace, item)
          await commitJob(run, item, item.available)
          emit({ type: 'job:restored', id: item.job.id, outputs: item.outputs.filter((output) => output.action === 'write').map((output) => output.path) })
          return true
        } catch (error) {
          const jobError = { code: ImagesEditError.is(error) ? error.code : 'STORE', message: (error as Error).message }
          result.failed.push({ id: item.job.id, error: jobError })
          emit({ type: 'job:failed', id: item.job.id, provider: item.job.provider, error: jobError, elapsedMs: 0 })
          return false
        }
      }),
    ),
  )
  result.restored.push(...items.filter((_, index) => done[index]).map((item) => item.job.id))
}

/** Copies images that exist only as output files (a fresh clone: lock and outputs, no store) into the store. */
export async function ingest(workspace: Workspace, item: PlannedJob): Promise<void> {
  const { root, store } = workspace
  const images = new Map([...item.available, ...item.served].filter((image) => image !== undefined).map((image) => [image.sha256, image]))
  for (const image of images.values()) {
    if (await store.hasObject(image.sha256)) continue
    const source = item.locked?.outputs.find((output) => output.sha256 === image.sha256)
    if (!source) throw new ImagesEditError('STORE', `image ${image.sha256.slice(0, 12)} of ${item.job.id} is neither in the store nor on disk`)
    // A path from the lock: read only where it really stays inside the project.
    const check = await checkProjectPath(root, source.path, { allowOutside: workspace.allowOutside })
    if (!check.ok) {
      throw new ImagesEditError('STORE', `${LOCK_NAME} names ${check.reason}; it is not read. Restore the lock from git, or delete it to rebuild it.`)
    }
    const bytes = await readBounded(join(root, source.path), 'output')
    if (sha256(bytes) !== image.sha256) throw new ImagesEditError('STORE', `${source.path} changed while images-edit was reading it; rerun`)
    await withFsErrors({ path: store.location, doing: `copying ${source.path} into the store` }, () => store.putObject(bytes, image.sha256))
    image.bytes = bytes.byteLength
  }
}
