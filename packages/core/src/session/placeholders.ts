import type { Job } from '../manifest/job.js'
import { renderLocalEdit } from '../providers/local-provider.js'
import { toEditRequest } from '../run/request.js'

/**
 * Stand-in images of the exact size and format for jobs that are not ready: the `local`
 * provider's rendering of the same recipe, cached per key and image index.
 */
export class Placeholders {
  private readonly cache = new Map<string, Promise<Uint8Array>>()

  constructor(private readonly signal: AbortSignal) {}

  /** The stand-in for image `index` of a job (rendered once; a failed render is tried again next time). */
  get(job: Job, index: number): Promise<Uint8Array> {
    const cacheKey = `${job.key}:${index}`
    let pending = this.cache.get(cacheKey)
    if (!pending) {
      const request = toEditRequest(job, { model: 'local-v1', n: 1, firstIndex: index, take: 1 })
      pending = renderLocalEdit(request, { signal: this.signal }).then((result) => result.images[0]?.bytes ?? new Uint8Array())
      pending.catch(() => this.cache.delete(cacheKey))
      this.cache.set(cacheKey, pending)
    }
    return pending
  }
}
