// The review side of a dev session (the dev panel): list takes and candidates, pick one for free,
// and start a new take only after its cost was shown and confirmed.
import { basename } from 'node:path'
import { type CostSummary, costSummary } from '../cost/estimate.js'
import { costLines } from '../cost/wording.js'
import { ImagesEditError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { Project } from '../project.js'
import type { RunEvent } from '../run/events.js'
import { type JobTakes, listTakes } from '../takes/list-takes.js'
import { findJob, type PickRequest } from '../takes/pick.js'
import type { JobView } from './job-view.js'

/** Why a frozen session starts no new take. */
export const NEW_TAKE_FROZEN =
  'frozen (CI is set, or frozen was asked for): no new take is started here, so nothing is paid. Make it where paying is intended (images-edit build --force <recipe> --no-frozen, or imagesEdit({ frozen: false }) in Vite)'

/** What a new take of one job would make and cost, shown before it starts. */
export interface TakeQuote {
  job: string
  recipe: string
  provider: string
  model: string
  /** The number the new take gets. */
  take: number
  /** Images it makes (the job's `candidates`), and how many of them cost money (none on `local`). */
  newImages: number
  paidImages: number
  /** Its estimated cost (output images only), with the images no price covers. */
  cost: CostSummary
  /** How it is said: `3 new paid images ≈ $0.51`, what the estimate leaves out, one line per image group with no known price. */
  text: { head: string; note?: string; unpriced: string[] }
  /**
   * Sent back to start the take: it starts only while the quote still holds, so what runs is what
   * the user confirmed (a manifest edit in between changes the token).
   */
  token: string
}

/**
 * The quote for a new take of job `id` (a job id, or a recipe with one job): the forced plan of
 * that job alone, priced by the manifest's table. Throws, with what to do, when the job does not
 * exist or an output was edited by hand (a new take would overwrite it: `--force` does, the
 * panel never does behind the user's back).
 */
export async function quoteTake(project: Project, loaded: LoadedManifest, id: string): Promise<{ quote: TakeQuote; job: Job }> {
  const job = findJob(loaded, id)
  // The session keeps the last good manifest while the one on disk is broken: no one pays for a
  // recipe in the middle of being edited.
  const onDisk = await project.load()
  const errors = onDisk.diagnostics.filter((item) => item.severity === 'error').length
  if (errors > 0) {
    throw new ImagesEditError(
      'USAGE',
      `${basename(project.manifestPath)} has ${errors} error${errors === 1 ? '' : 's'} right now; fix ${errors === 1 ? 'it' : 'them'} before a new take (nothing was started)`,
    )
  }
  // The session's manifest pass remembers each file's hash; an output edited since (a watcher
  // ignores outputs) must be hashed again, or it would be overwritten unseen.
  project.workspace.fileIndex.beginPass()
  const { plan: current } = await project.plan({ loaded, only: [job.id] })
  const edited = current.jobs[0]?.outputs.filter((output) => output.action === 'edited').map((output) => output.path) ?? []
  if (edited.length > 0) {
    throw new ImagesEditError(
      'USAGE',
      `${edited.join(', ')} ${edited.length === 1 ? 'differs' : 'differ'} from what images-edit wrote (edited by hand?), and a new take would overwrite ${edited.length === 1 ? 'it' : 'them'}. Move ${edited.length === 1 ? 'it' : 'them'} away first, or run images-edit build --force ${job.recipe}.`,
    )
  }
  const { plan, cost } = await project.plan({ loaded, only: [job.id], force: [job.id] })
  const item = plan.jobs[0]
  if (item?.status !== 'generate') throw new ImagesEditError('INTERNAL', `a forced plan of ${job.id} generates nothing`)
  const summary = costSummary(cost)
  const images = `${item.newImages} new image${item.newImages === 1 ? '' : 's'}`
  const text = job.paid ? costLines(summary, basename(loaded.file)) : { head: `${images} on ${job.provider}: free`, unpriced: [] }
  const quote: TakeQuote = {
    job: job.id,
    recipe: job.recipe,
    provider: job.provider,
    model: job.model,
    take: item.take,
    newImages: item.newImages,
    paidImages: summary.paidImages,
    cost: summary,
    text,
    token: JSON.stringify([job.key, item.take, item.newImages, summary.paidImages, summary.pricedImages, summary.amount, summary.currency]),
  }
  return { quote, job }
}

/** What {@link SessionReview} needs of its dev session. */
export interface ReviewHost {
  readonly project: Project
  /** The last manifest that validated. */
  loaded(): LoadedManifest | undefined
  frozen(): boolean
  /** Whether a build of this job id is running. */
  building(id: string): boolean
  view(id: string): JobView | undefined
  /** Starts a forced build of the job (a new take); resolves once the build passed its refusals (budget), never waiting for a provider. */
  startTake(loaded: LoadedManifest, job: Job, quote: TakeQuote): Promise<void>
  /** Shows the job's images as the lock has them now (its view changes, so its modules do). */
  showReady(job: Job): Promise<void>
  /** A run event, for the terminal. */
  report(event: RunEvent): void
}

/** Takes, picks and new takes of a dev session's jobs. The session serializes `pick` and `newTake` with its refreshes. */
export class SessionReview {
  constructor(private readonly host: ReviewHost) {}

  /** Every take and candidate of the session's jobs (of `only`), from the store's records and the lock. */
  async takes(only: readonly string[] = []): Promise<JobTakes[]> {
    const loaded = this.host.loaded()
    if (!loaded) return []
    const { project } = this.host
    const { plan } = await project.plan({ loaded, only })
    return listTakes(project.root, project.store, plan)
  }

  /** Makes other images of a job's takes its outputs, free (`Project.pick`), then shows them. */
  async pick(request: PickRequest): Promise<JobView> {
    const id = this.host.view(request.job)?.id ?? request.job
    if (this.host.building(id)) throw new ImagesEditError('USAGE', `${id} is being built right now; pick once it is done`)
    const result = await this.host.project.pick(request, { onEvent: (event) => this.host.report(event) })
    const failed = result.failed[0]
    if (failed) throw new ImagesEditError('STORE', `${failed.id}: ${failed.error.message}`)
    const job = this.host.loaded()?.jobs.find((item) => item.id === result.plan.jobs[0]?.job.id)
    if (job) await this.host.showReady(job)
    return this.host.view(job?.id ?? id) as JobView
  }

  /** What a new take of a job would cost, for the confirmation; refused (FROZEN) when nothing may be generated. */
  async quote(id: string): Promise<TakeQuote> {
    return (await this.quoteFor(id)).quote
  }

  /**
   * Starts a new take of a job, only if `token` is the one of its quote now (the user confirmed
   * this cost). Resolves once the build passed its refusals (a budget refusal rejects); the take
   * itself runs on, its progress in the job's view.
   */
  async newTake(id: string, token: string): Promise<TakeQuote> {
    const { quote, job, loaded } = await this.quoteFor(id)
    if (quote.token !== token) {
      throw new ImagesEditError(
        'USAGE',
        `what a new take of ${job.id} makes changed since it was shown: now ${quote.text.head}. Look at it again before confirming.`,
      )
    }
    await this.host.startTake(loaded, job, quote)
    return quote
  }

  private async quoteFor(id: string): Promise<{ quote: TakeQuote; job: Job; loaded: LoadedManifest }> {
    const loaded = this.host.loaded()
    if (!loaded) throw new ImagesEditError('USAGE', 'the manifest has not loaded yet (or has errors): fix it first')
    if (this.host.frozen()) throw new ImagesEditError('FROZEN', NEW_TAKE_FROZEN)
    const { quote, job } = await quoteTake(this.host.project, loaded, id)
    if (this.host.building(job.id)) throw new ImagesEditError('USAGE', `${job.id} is being built right now; ask for a new take once it is done`)
    return { quote, job, loaded }
  }
}
