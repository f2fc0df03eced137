// The commit stage: a finished job's images written to its outputs (recorded in the output ledger first), and its lock entry merged into the lock.
import { basename, join } from 'node:path'
import { ImagesEditError } from '../errors.js'
import { assertWritable, withFsErrors } from '../fs/project-fs.js'
import { canonicalJson } from '../hash/content-hash.js'
import { type LockedJob, type LockFile, sortedParams } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import { outputImage } from '../plan/picks.js'
import type { PlannedJob } from '../plan/plan.js'
import { candidatesField } from '../plan/plan-steps.js'
import type { ImageRecord } from '../store/store.js'
import type { Workspace } from '../workspace/workspace.js'
import type { BuildRun } from './types.js'

/** Commits one job (`images`: its take's images in order): outputs written, then its lock entry queued for the lock write at the end of the run. */
export async function commitJob(run: BuildRun, item: PlannedJob, images: readonly ImageRecord[]): Promise<void> {
  const changed = await writeOutputs(run.workspace, item, images)
  for (const path of changed) {
    run.emit({
      type: 'warning',
      id: item.job.id,
      message: `${path} changed while images-edit was running (edited by hand?), so it was kept; the new image is in the store: move your file away and run images-edit build to get it, at no cost`,
    })
  }
  run.updates[item.job.id] = lockEntry(item, images)
}

/**
 * Writes a job's picked images to its outputs (not the ones kept or edited by hand), each recorded
 * in the output ledger before it is written. An output file that changed since the job was planned
 * to bytes that are not images-edit's (someone edited it while the provider worked) is left alone:
 * returns those paths.
 */
export async function writeOutputs(workspace: Workspace, item: PlannedJob, images: readonly ImageRecord[]): Promise<string[]> {
  const { root, ledger } = workspace
  const changed: string[] = []
  for (const output of item.outputs) {
    if (output.action === 'edited') continue
    const image = outputImage(item, images, output.index)
    if (!image) continue
    const target = join(root, output.path)
    if (output.action === 'keep') continue
    // The file as it is now: what was planned, our own bytes (stored, or these very ones: another
    // run beside this one wrote them) — or someone's edit since, which is kept.
    const now = await workspace.fileIndex.recheck(target)
    const current = now.ok ? now.info.sha256 : undefined
    if (current === image.sha256) continue
    if (current !== output.seen && !(current !== undefined && (await workspace.store.hasObject(current)))) {
      changed.push(output.path)
      continue
    }
    // Checked again right before the write: a folder may have become a link since validation.
    await assertWritable(root, output.path, { allowOutside: workspace.allowOutside, manifestName: basename(workspace.manifestPath) })
    const after = 'The image is kept in the store (.images-edit/); once fixed, a rerun writes it at no cost.'
    // Ledger first: should we die between the two writes, the file still has recoverable bytes.
    await withFsErrors({ path: ledger.path, doing: 'recording the outputs images-edit writes', after }, () => ledger.record({ [output.path]: image.sha256 }))
    const copied = await withFsErrors({ path: target, doing: `writing ${output.path}`, after }, () => workspace.store.copyObjectTo(image.sha256, target))
    if (!copied) {
      throw new ImagesEditError('STORE', `stored image ${image.sha256.slice(0, 12)} for ${output.path} is missing or damaged; rerun to regenerate it`)
    }
    workspace.fileIndex.forget(target)
  }
  return changed
}

/** The lock entry of a job whose take's images are `images` (each output the one it picks). */
export function lockEntry(item: PlannedJob, images: readonly ImageRecord[]): LockedJob {
  const { job } = item
  const candidates = candidatesField(job, Math.max(item.takeSize, images.length))
  return {
    key: job.key,
    recipe: job.recipe,
    provider: job.provider,
    model: job.model,
    take: item.take,
    ...(candidates !== undefined ? { candidates } : {}),
    prompt: job.prompt,
    // The order the lock is written in, so an unchanged lock compares equal without re-serializing.
    params: sortedParams(job.params),
    ...(job.seed !== undefined ? { seed: job.seed } : {}),
    refs: job.refs.map(lockedInput),
    ...(job.mask ? { mask: lockedInput(job.mask) } : {}),
    outputs: job.outputs.map((path, index) => {
      const image = outputImage(item, images, index) as ImageRecord
      const pick = (item.picks[index] ?? index) + 1
      return { path, ...(pick !== index + 1 ? { image: pick } : {}), sha256: image.sha256, width: image.width, height: image.height, format: image.format }
    }),
  }
}

function lockedInput(input: Job['refs'][number]): { path?: string; url?: string; sha256?: string } {
  return input.input.kind === 'file' ? { path: input.path ?? input.source, sha256: input.input.sha256 } : { url: input.input.url }
}

/**
 * Merges this run's entries into the lock as it is on disk now, holding a lock on the lock, so
 * concurrent builds (a dev server and `watch`, or two watch-triggered runs) never drop each
 * other's entries. A full build also drops entries of jobs no longer in the manifest
 * (`dropMissing`: the ids to keep). An entry of the same key that someone else rewrote since
 * this run planned (`planned`: the entries it planned from) is theirs to keep — a `pick` made
 * while a build ran is not undone by it; the outputs follow on the next build, for free.
 * Returns whether the lock was written.
 */
export async function updateLock(
  workspace: Workspace,
  updates: Record<string, LockedJob>,
  options: { dropMissing: ReadonlySet<string> | undefined; planned?: ReadonlyMap<string, LockedJob | undefined> },
): Promise<boolean> {
  const { dropMissing, planned } = options
  const { lockStore } = workspace
  const before = await lockStore.read()
  const unchanged = Object.keys(updates).length === 0 && (!dropMissing || Object.keys(before.lock.jobs).every((id) => dropMissing.has(id)))
  // (A hand-edited lock only gets here with --force-lock, and then it is rewritten.)
  if (unchanged && !before.handEdited) return false
  return workspace.keyLocks.with('images-edit-lock', new AbortController().signal, async () => {
    const state = await lockStore.read()
    const next: LockFile = { lockfileVersion: 1, jobs: {} }
    for (const [id, entry] of Object.entries(state.lock.jobs)) if (!dropMissing || dropMissing.has(id)) next.jobs[id] = entry
    for (const [id, entry] of Object.entries(updates)) {
      const now = state.lock.jobs[id]
      const rewritten = planned?.has(id) && now?.key === entry.key && canonicalJson(now) !== canonicalJson(planned.get(id) ?? null)
      if (!rewritten) next.jobs[id] = entry
    }
    return lockStore.write(next, state)
  })
}
