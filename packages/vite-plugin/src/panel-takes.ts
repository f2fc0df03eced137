import type { JobTakes, SessionEvent, TakeImage } from '@images-edit/core'
import type { DevContext } from './dev-context.js'
import { TAG } from './messages.js'

/** Job events come in bursts (a build finishing several jobs): one listing per burst. */
const REFRESH_DEBOUNCE_MS = 150
/** An image asked for that the last listing lacks lists again, at most this often (any page can ask for images). */
const MISS_REFRESH_MS = 1000

/**
 * The takes and candidates of every job, as the panel shows them, listed again (store records and
 * the lock; no image bytes read) whenever a job becomes ready, a build ends or the manifest
 * changes. It is also the list of store objects the panel may serve: only images a listed take of
 * a manifest job names.
 */
export class PanelTakes {
  private byJob = new Map<string, JobTakes>()
  private images = new Map<string, TakeImage>()
  private timer: NodeJS.Timeout | undefined
  private chain: Promise<void> = Promise.resolve()
  private warned = false
  private listedAt = 0

  constructor(
    private readonly context: DevContext,
    private readonly onChange: () => void,
  ) {}

  /** The takes of a job, as last listed. */
  of(jobId: string): JobTakes | undefined {
    return this.byJob.get(jobId)
  }

  /**
   * The take image with this sha256, if a listed take of a manifest job has it. One the last
   * listing lacks may be of a take stored a moment ago: then the takes are listed again first,
   * unless they were just listed.
   */
  async image(sha256: string): Promise<TakeImage | undefined> {
    if (!this.images.has(sha256) && Date.now() - this.listedAt > MISS_REFRESH_MS) await this.refresh()
    return this.images.get(sha256)
  }

  /** Lists again soon after the events that can change takes or picks. */
  onEvent(event: SessionEvent): void {
    const relevant = event.type === 'build:done' || event.type === 'manifest:ok' || (event.type === 'job' && event.job.phase === 'ready')
    if (!relevant) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.refresh(), REFRESH_DEBOUNCE_MS)
  }

  /** Lists every job's takes now (one listing at a time), then tells the panel. */
  refresh(): Promise<void> {
    clearTimeout(this.timer)
    this.chain = this.chain.then(() => this.list())
    return this.chain
  }

  close(): void {
    clearTimeout(this.timer)
  }

  private async list(): Promise<void> {
    const { session, closed } = this.context
    if (!session || closed) return
    try {
      const jobs = await session.takes()
      this.listedAt = Date.now()
      this.byJob = new Map(jobs.map((job) => [job.id, job]))
      this.images = new Map(jobs.flatMap((job) => job.takes.flatMap((take) => take.images.map((image) => [image.sha256, image] as const))))
      this.onChange()
    } catch (error) {
      // The last listing stays; a broken manifest is already reported by the session.
      if (!this.warned) this.context.logger.warn(`${TAG} could not list takes for the panel: ${(error as Error).message}`)
      this.warned = true
    }
  }
}
