// `takes`: every take and candidate a job has, as the store and the lock know them, and which images its outputs are.
import { relative } from 'node:path'
import type { Plan, PlannedJob } from '../plan/plan.js'
import { FileSystemStore } from '../store/fs-store.js'
import type { ImageRecord, ResultStore, RunRecord, TakeRecord } from '../store/store.js'

/** One image of a take. */
export interface TakeImage {
  /** 1-based, within the take (what `images-edit pick <job> <take>/<image>` names). */
  image: number
  sha256: string
  width: number
  height: number
  format: string
  /** Whether its bytes are in the local store (a pick of it is then free and instant). */
  stored: boolean
  /** Where its bytes are, relative to the project: the store object, else the output file showing it. */
  file?: string
  /** Outputs that show this image now (it is picked for them). */
  outputs: string[]
}

/** One take of a job: a paid round (`--force` adds one). */
export interface TakeInfo {
  take: number
  /** When its first images were stored (ISO), when the store knows. */
  at?: string
  provider: string
  model: string
  /** Whether the job's outputs are this take. */
  current: boolean
  images: TakeImage[]
  /** The calls that made it, with what each cost as estimated when it ran and the usage the provider reported. */
  runs: Pick<RunRecord, 'at' | 'provider' | 'model' | 'count' | 'estimate' | 'usage' | 'revisedPrompt'>[]
  /** Only the lock knows this take (a fresh clone): its picked images, nothing of the other candidates. */
  lockOnly?: true
}

/** A job's takes and candidates. */
export interface JobTakes {
  id: string
  recipe: string
  key: string
  prompt: string
  provider: string
  model: string
  /** Whether its takes cost money (false for `local`). */
  paid: boolean
  /** Outputs per take, and images made per take. */
  n: number
  candidates: number
  /** The take the outputs are, and the (1-based) image of it each output is, in output order. */
  take: number
  picks: number[]
  outputs: string[]
  takes: TakeInfo[]
}

/** The takes of every planned job, read from the store's record and the lock (no image bytes read). */
export async function listTakes(root: string, store: ResultStore, plan: Plan): Promise<JobTakes[]> {
  return Promise.all(plan.jobs.map((item) => jobTakes(root, store, item)))
}

async function jobTakes(root: string, store: ResultStore, item: PlannedJob): Promise<JobTakes> {
  const { job } = item
  const record = item.record ?? (await store.getRecord(job.key))
  const takes: TakeInfo[] = []
  for (const take of record?.takes ?? []) takes.push(await takeInfo(root, store, item, take))
  // A fresh clone: the lock names the take its outputs are, and nothing else of it.
  if (item.locked?.key === job.key && !takes.some((take) => take.take === item.locked?.take)) takes.push(await lockedTake(root, store, item))
  takes.sort((a, b) => a.take - b.take)
  return {
    id: job.id,
    recipe: job.recipe,
    key: job.key,
    prompt: job.prompt,
    provider: job.provider,
    model: job.model,
    paid: job.paid,
    n: job.n,
    candidates: job.candidates,
    take: item.take,
    picks: item.picks.map((pick) => pick + 1),
    outputs: job.outputs,
    takes,
  }
}

async function takeInfo(root: string, store: ResultStore, item: PlannedJob, take: TakeRecord): Promise<TakeInfo> {
  const first = take.runs[0]
  return {
    take: take.take,
    ...(first ? { at: first.at } : {}),
    provider: first?.provider ?? item.job.provider,
    model: first?.model ?? item.job.model,
    current: take.take === item.take,
    images: await Promise.all(take.images.map((image, index) => takeImage(root, store, item, take.take, image, index))),
    runs: take.runs.map((run) => ({
      at: run.at,
      provider: run.provider,
      model: run.model,
      count: run.count,
      ...(run.estimate ? { estimate: run.estimate } : {}),
      ...(run.usage ? { usage: run.usage } : {}),
      ...(run.revisedPrompt ? { revisedPrompt: run.revisedPrompt } : {}),
    })),
  }
}

async function lockedTake(root: string, store: ResultStore, item: PlannedJob): Promise<TakeInfo> {
  const locked = item.locked as NonNullable<PlannedJob['locked']>
  const images = await Promise.all(
    locked.outputs.map((output, index) => takeImage(root, store, item, locked.take, output, (output.image ?? index + 1) - 1, output.path)),
  )
  return { take: locked.take, provider: locked.provider, model: locked.model, current: locked.take === item.take, images, runs: [], lockOnly: true }
}

async function takeImage(
  root: string,
  store: ResultStore,
  item: PlannedJob,
  take: number,
  image: Pick<ImageRecord, 'sha256' | 'width' | 'height' | 'format'>,
  index: number,
  outputFile?: string,
): Promise<TakeImage> {
  const stored = await store.hasObject(image.sha256)
  const outputs = take === item.take ? item.job.outputs.filter((_, output) => item.picks[output] === index) : []
  const file = stored && store instanceof FileSystemStore ? relative(root, store.objectPath(image.sha256)).split('\\').join('/') : outputFile
  return {
    image: index + 1,
    sha256: image.sha256,
    width: image.width,
    height: image.height,
    format: image.format,
    stored,
    ...(file ? { file } : {}),
    outputs,
  }
}
