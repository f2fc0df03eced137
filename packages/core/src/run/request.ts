import type { Job } from '../manifest/job.js'
import type { EditRequest } from '../providers/provider.js'

/** Which slice of a job one request asks for. */
export interface RequestSlice {
  /** Images this request asks for. */
  n: number
  /** Index of its first image within the job. */
  firstIndex: number
  take: number
  /** Another model than the job's (the `local` stand-in of a dev preview). */
  model?: string
}

/**
 * The provider request for a slice of a job: the one mapping from a job's recipe to what a
 * provider is asked, used by the runner and by the dev session's local previews alike.
 */
export function toEditRequest(job: Job, slice: RequestSlice): EditRequest {
  return {
    jobKey: job.key,
    model: slice.model ?? job.model,
    prompt: job.prompt,
    refs: job.refs.map((ref) => ref.input),
    ...(job.mask ? { mask: job.mask.input } : {}),
    ratio: job.params.ratio,
    resolution: job.params.resolution,
    ...(job.size ? { size: job.size } : {}),
    n: slice.n,
    firstIndex: slice.firstIndex,
    take: slice.take,
    quality: job.params.quality,
    format: job.params.format,
    ...(job.params.compression !== undefined ? { compression: job.params.compression } : {}),
    ...(job.params.background !== undefined ? { background: job.params.background } : {}),
    ...(job.params.inputFidelity !== undefined ? { inputFidelity: job.params.inputFidelity } : {}),
    ...(job.params.moderation !== undefined ? { moderation: job.params.moderation } : {}),
    ...(job.seed !== undefined ? { seed: job.seed } : {}),
  }
}
