import type { Job } from '../manifest/job.js'
import type { PlannedJob } from '../plan/plan.js'
import type { OutputFormat, PixelSize } from '../providers/provider.js'
import type { RunEvent } from '../run/events.js'

/** Where a job stands in a dev session. */
export type JobPhase = 'ready' | 'queued' | 'running' | 'failed' | 'blocked'

/** One image of a ready job. */
export interface ReadyImage {
  /** Output path relative to the manifest folder. */
  path: string
  sha256: string
  width: number
  height: number
  format: OutputFormat
}

/** Everything a UI shows about one job (the dev panel, the Vite overlay, `watch`). */
export interface JobView {
  id: string
  recipe: string
  key: string
  provider: string
  model: string
  /** True for the `local` provider: results are placeholders. */
  local: boolean
  prompt: string
  refs: { source: string; path?: string }[]
  mask?: { source: string; path?: string }
  n: number
  format: OutputFormat
  /** Expected size; undefined for `ratio: auto`. */
  size?: PixelSize
  outputs: string[]
  phase: JobPhase
  stage?: string
  percent?: number
  error?: string
  reasons: string[]
  /** The images of the current key, when ready. */
  images: ReadyImage[]
  updatedAt: number
}

/**
 * The view of a job after `changes`. What the previous view knew (phase, reasons, images,
 * stage, progress, error) carries over only while the job keeps the same key.
 */
export function nextView(job: Job, previous: JobView | undefined, changes: Partial<JobView>): JobView {
  const fresh = !previous || previous.key !== job.key
  const view: JobView = {
    id: job.id,
    recipe: job.recipe,
    key: job.key,
    provider: job.provider,
    model: job.model,
    local: job.provider === 'local',
    prompt: job.prompt,
    refs: job.refs.map((ref) => ({ source: ref.source, ...(ref.path ? { path: ref.path } : {}) })),
    ...(job.mask ? { mask: { source: job.mask.source, ...(job.mask.path ? { path: job.mask.path } : {}) } } : {}),
    n: job.n,
    format: job.params.format,
    ...(job.size ? { size: job.size } : {}),
    outputs: job.outputs,
    phase: fresh ? 'queued' : (previous?.phase ?? 'queued'),
    reasons: fresh ? [] : (previous?.reasons ?? []),
    images: fresh ? [] : (previous?.images ?? []),
    ...(fresh || !previous?.stage ? {} : { stage: previous.stage }),
    ...(fresh || previous?.percent === undefined ? {} : { percent: previous.percent }),
    ...(fresh || !previous?.error ? {} : { error: previous.error }),
    ...changes,
    updatedAt: Date.now(),
  }
  if (changes.phase && changes.phase !== 'failed') delete view.error
  if (changes.phase === 'ready') {
    delete view.stage
    delete view.percent
  }
  return view
}

/** The ready images of a job: its outputs paired with the images they show (its picks), up to the first output not served yet. */
export function readyImages(job: Job, served: PlannedJob['served']): ReadyImage[] {
  const ready = served.findIndex((image) => !image)
  return job.outputs.slice(0, ready === -1 ? served.length : ready).map((path, index) => {
    const image = served[index] as PlannedJob['available'][number]
    return { path, sha256: image.sha256, width: image.width, height: image.height, format: image.format }
  })
}

/** How a run event changes its job's view; `ready` when the job is finished (its images are then read from the lock). */
export function viewChange(event: RunEvent): Partial<JobView> | 'ready' | undefined {
  switch (event.type) {
    case 'job:started':
      return { phase: 'running', stage: 'starting' }
    case 'job:progress':
      return {
        phase: 'running',
        stage: event.note ? `${event.stage}: ${event.note}` : event.stage,
        ...(event.percent !== undefined ? { percent: event.percent } : {}),
      }
    case 'job:done':
    case 'job:restored':
    case 'job:fresh':
      return 'ready'
    case 'job:failed':
      return { phase: 'failed', error: event.error.message }
    case 'job:blocked':
      return { phase: 'blocked', reasons: event.reasons }
    default:
      return undefined
  }
}
