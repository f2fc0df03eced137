// `pick`: make other images of a job's takes its outputs. Free: planned as a restore from the store, never a generation.
import { type BuildInputs, runBuild } from '../build/build.js'
import { ingest } from '../build/restore.js'
import type { BuildOptions, BuildResult } from '../build/types.js'
import { ImagesEditError } from '../errors.js'
import type { LockedJob, LockFile } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import { lockedTakeSize, lockIsTake, picksAreFirst } from '../plan/picks.js'
import { createPlan, type Plan } from '../plan/plan.js'
import type { ImageRecord } from '../store/store.js'
import type { Workspace } from '../workspace/workspace.js'

/** What to pick: a take of a job, and (1-based) which of its images each output becomes. */
export interface PickRequest {
  /** A job id, or a recipe with a single job. */
  job: string
  take: number
  /** One image per output, in output order; the take's first images when omitted. */
  images?: number[]
}

/** Reads `<take>[/<image>[,<image>…]]` (`2`, `2/3`, `1/3,1`). */
export function parsePick(spec: string): { take: number; images?: number[] } {
  const match = /^(\d+)(?:\/(\d+(?:,\d+)*))?$/.exec(spec.trim())
  const take = Number(match?.[1])
  const images = match?.[2]?.split(',').map(Number)
  if (!match || take < 1 || images?.some((image) => image < 1)) {
    throw new ImagesEditError(
      'USAGE',
      `cannot read "${spec}" as a pick: write <take>, <take>/<image> or, for several outputs, <take>/<image>,<image> (numbers from 1; see images-edit takes)`,
    )
  }
  return { take, ...(images ? { images } : {}) }
}

/**
 * The plan that makes `request` the job's outputs: the lock as it would be after the pick, planned
 * for that job alone. Throws (nothing changed) when the job, take or images do not exist here, or
 * an output was edited by hand. The outputs it replaces are first copied into the store when
 * only their files had them (a fresh clone), so picking back is free too.
 */
export async function pickPlan(
  workspace: Workspace,
  loaded: LoadedManifest,
  request: PickRequest,
): Promise<{ job: Job; plan: Plan; images: number[]; basis: LockedJob | undefined }> {
  const named = findJob(loaded, request.job)
  // A take a teammate made (this clone has only the lock's picks of it): fetched from the team store.
  if (workspace.remote && !(await takeIsHere(workspace, named.key, request.take))) await workspace.remote.fetchTake(workspace.store, named.key, request.take)
  const { lock } = await workspace.lockStore.read()
  const journal = await workspace.journal.list()
  const planWith = (assumed: LockFile, job: Job) =>
    createPlan([job], { lock: assumed, store: workspace.store, fileIndex: workspace.fileIndex, root: workspace.root, journal }, { only: new Set([job.id]) })
  const current = (await planWith(lock, named)).jobs[0]
  if (current) await ingest(workspace, current)

  const images = request.images ?? Array.from({ length: named.n }, (_, index) => index + 1)
  const { chosen, size } = await chooseImages(workspace, named, lock.jobs[named.id], request.take, images)
  // Candidates the manifest asks for beyond what the take has are a build's to make (paid), not
  // the pick's: it is planned for the take as it is.
  const job: Job = { ...named, candidates: Math.min(named.candidates, size) }
  const entry: LockedJob = {
    key: job.key,
    recipe: job.recipe,
    provider: job.provider,
    model: job.model,
    take: request.take,
    ...(size > job.n ? { candidates: size } : {}),
    prompt: job.prompt,
    params: job.params,
    // Left empty: the build's commit writes the whole entry, and a difference makes sure it does.
    refs: [],
    outputs: job.outputs.map((path, index) => {
      const image = chosen[index] as ImageRecord
      return { path, image: images[index] as number, sha256: image.sha256, width: image.width, height: image.height, format: image.format }
    }),
  }
  const plan = await planWith({ ...lock, jobs: { ...lock.jobs, [job.id]: entry } }, job)
  const item = plan.jobs[0]
  const asked = item?.picks.every((pick, index) => pick + 1 === images[index]) && item.served.every(Boolean)
  if (!item || !asked || item.status === 'generate' || item.status === 'blocked') {
    throw new ImagesEditError(
      'STORE',
      `take ${request.take} of ${job.id} cannot be written from what is here (${item?.reasons.join('; ') || 'no plan'}); nothing was changed`,
    )
  }
  const edited = item.outputs.filter((output) => output.action === 'edited').map((output) => output.path)
  if (edited.length > 0) {
    throw new ImagesEditError(
      'USAGE',
      `${edited.join(', ')} ${edited.length === 1 ? 'differs' : 'differ'} from what images-edit wrote (edited by hand?), so nothing was picked. Move ${edited.length === 1 ? 'it' : 'them'} away, then pick again.`,
    )
  }
  return { job, plan, images, basis: lock.jobs[named.id] }
}

/** Whether the local store has the take's record and every image of it. */
async function takeIsHere(workspace: Workspace, key: string, take: number): Promise<boolean> {
  const images = (await workspace.store.getRecord(key))?.takes.find((item) => item.take === take)?.images
  if (!images) return false
  for (const image of images) if (!(await workspace.store.hasObject(image.sha256))) return false
  return true
}

/**
 * Runs a pick: its plan as a frozen restore-only build (it cannot generate), which writes the
 * outputs and the lock entry; then the record's selected take follows, so the pick also holds
 * where the lock does not decide (after the recipe changes and changes back).
 */
export async function runPick(
  workspace: Workspace,
  inputs: Pick<BuildInputs, 'loaded' | 'providers'>,
  request: PickRequest,
  options: Pick<BuildOptions, 'onEvent' | 'forceLock'> = {},
): Promise<BuildResult> {
  const { job, plan, basis } = await pickPlan(workspace, inputs.loaded, request)
  const planned = new Map([[job.id, basis]])
  const result = await runBuild(workspace, { ...inputs, plan, planned, frozen: true, restoreOnly: true }, { ...options, loaded: inputs.loaded, only: [job.id] })
  const record = await workspace.store.getRecord(job.key)
  const picks = plan.jobs[0]?.picks.map((pick) => pick + 1) ?? []
  const first = picksAreFirst(picks.map((pick) => pick - 1))
  const same =
    record?.selectedTake === request.take && (record.picked?.take === request.take ? record.picked.images.join() : '') === (first ? '' : picks.join())
  if (record && result.failed.length === 0 && !same && record.takes.some((take) => take.take === request.take)) {
    const { picked: _old, ...rest } = record
    await workspace.store.putRecord({ ...rest, selectedTake: request.take, ...(first ? {} : { picked: { take: request.take, images: picks } }) })
  }
  return result
}

/** The job an id names: a job id, or a recipe that has exactly one job (`pick`, the panel's new take). */
export function findJob(loaded: LoadedManifest, id: string): Job {
  const exact = loaded.jobs.find((job) => job.id === id)
  if (exact) return exact
  const ofRecipe = loaded.jobs.filter((job) => job.recipe === id)
  if (ofRecipe.length === 1) return ofRecipe[0] as Job
  if (ofRecipe.length > 1) {
    throw new ImagesEditError('USAGE', `recipe ${id} has ${ofRecipe.length} jobs; name one: ${ofRecipe.map((job) => job.id).join(', ')}`)
  }
  throw new ImagesEditError('USAGE', `no job or recipe ${id}. Jobs: ${loaded.jobs.map((job) => job.id).join(', ')}.`)
}

/** The images `images` name in take `take`, from the store's record, else the lock's own pins of that take; throws naming what is there. */
async function chooseImages(
  workspace: Workspace,
  job: Job,
  locked: LockedJob | undefined,
  take: number,
  images: readonly number[],
): Promise<{ chosen: ImageRecord[]; size: number }> {
  if (images.length !== job.n) {
    throw new ImagesEditError(
      'USAGE',
      `${job.id} has ${job.n} output${job.n === 1 ? '' : 's'}: name ${job.n === 1 ? 'one image' : `one image per output, e.g. ${take}/${Array.from({ length: job.n }, (_, index) => index + 1).join(',')}`}`,
    )
  }
  const record = await workspace.store.getRecord(job.key)
  const known = new Map<number, ImageRecord>()
  for (const [index, image] of (record?.takes.find((item) => item.take === take)?.images ?? []).entries()) known.set(index + 1, image)
  if (lockIsTake(job, locked, take)) {
    for (const [index, output] of locked.outputs.entries()) {
      const position = output.image ?? index + 1
      if (!known.has(position)) known.set(position, { sha256: output.sha256, width: output.width, height: output.height, format: output.format, bytes: 0 })
    }
  }
  if (known.size === 0) {
    const takes = [...new Set([...(record?.takes.map((item) => item.take) ?? []), ...(locked?.key === job.key ? [locked.take] : [])])].sort((a, b) => a - b)
    throw new ImagesEditError(
      'USAGE',
      `${job.id} has no take ${take} here${takes.length > 0 ? `; its takes: ${takes.join(', ')}` : ' (it has not been generated)'}. See images-edit takes ${job.recipe}.`,
    )
  }
  const chosen = images.map((image) => {
    const found = known.get(image)
    if (found) return found
    throw new ImagesEditError(
      'USAGE',
      `take ${take} of ${job.id} has no image ${image} here; it has ${[...known.keys()].sort((a, b) => a - b).join(', ')}. See images-edit takes ${job.recipe}.`,
    )
  })
  // How many images the take has: what the record, the lock and the pick know of it.
  return { chosen, size: Math.max(lockedTakeSize(job, locked, take), ...known.keys()) }
}
