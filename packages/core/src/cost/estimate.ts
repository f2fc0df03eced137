// What a plan would cost: its paid images priced by the table, and those no price covers named.
import type { Job } from '../manifest/job.js'
import type { Plan, PlannedJob } from '../plan/plan.js'
import { fromNanos, type Nanos } from './money.js'
import type { Money, PriceSettings } from './price-types.js'
import { type PriceAnswer, type PriceTable, priceTable } from './prices.js'

/** The estimated cost of one planned job. */
export interface JobCost {
  id: string
  /** Images this run would pay for (journaled ones being collected are not paid again; `local` is free). */
  paidImages: number
  currency: string
  /** Price of one image; undefined when no price is known. */
  perImage?: number
  /** `paidImages × perImage`; undefined when no price is known. */
  amount?: number
  source?: 'manifest' | 'built-in' | 'free'
  /** Why no price is known, and the manifest path that would give one. */
  unknown?: { reason: string; setting: string }
}

/** Paid images no price covers, grouped by provider, model and reason. */
export interface Unpriced {
  provider: string
  model: string
  images: number
  reason: string
  setting: string
}

/**
 * The estimated cost of a run. Output images only: the input tokens of the prompt and the
 * reference images are billed on top, and are what a provider's reported usage includes.
 */
export interface CostSummary {
  currency: string
  paidImages: number
  /** Paid images with a known price. */
  pricedImages: number
  /** Sum over the priced images, exact (rounded only when shown). */
  amount: number
  /** Every paid image has a known price. */
  complete: boolean
  unpriced: Unpriced[]
}

/** {@link CostSummary} with the cost of each job that pays for something. */
export interface PlanCost extends CostSummary {
  jobs: JobCost[]
}

/** The images of a planned job this run pays for (as `Plan.paidImages` counts them). */
export function paidImagesOf(item: PlannedJob): number {
  return item.status === 'generate' && item.job.paid ? Math.max(0, item.newImages - item.collecting) : 0
}

function jobCost(item: PlannedJob, answer: PriceAnswer, currency: string): JobCost {
  const paidImages = paidImagesOf(item)
  const base = { id: item.job.id, paidImages, currency }
  if (!answer.known) return { ...base, unknown: { reason: answer.reason, setting: answer.setting } }
  return { ...base, perImage: fromNanos(answer.nanos), amount: fromNanos(answer.nanos * paidImages), source: answer.source }
}

/** Prices every job of a plan that would pay for images. */
export function estimatePlan(plan: Plan, table: PriceTable): PlanCost {
  const jobs: JobCost[] = []
  const unpriced = new Map<string, Unpriced>()
  let nanos: Nanos = 0
  let pricedImages = 0
  for (const item of plan.jobs) {
    if (paidImagesOf(item) === 0) continue
    const answer = table.perImage(item.job)
    const cost = jobCost(item, answer, table.currency)
    jobs.push(cost)
    if (answer.known) {
      nanos += answer.nanos * cost.paidImages
      pricedImages += cost.paidImages
      continue
    }
    const id = JSON.stringify([item.job.provider, item.job.model, answer.reason, answer.setting])
    const group = unpriced.get(id) ?? { provider: item.job.provider, model: item.job.model, images: 0, reason: answer.reason, setting: answer.setting }
    group.images += cost.paidImages
    unpriced.set(id, group)
  }
  const paidImages = jobs.reduce((sum, job) => sum + job.paidImages, 0)
  return {
    currency: table.currency,
    paidImages,
    pricedImages,
    amount: fromNanos(nanos),
    complete: pricedImages === paidImages,
    unpriced: [...unpriced.values()],
    jobs,
  }
}

/** What a plan costs by a manifest's price table. */
export function planCost(plan: Plan, manifest: { prices?: PriceSettings } | undefined): PlanCost {
  return estimatePlan(plan, priceTable(manifest))
}

/** The cost without the per-job list (what the build's `plan` event carries). */
export function costSummary(cost: PlanCost): CostSummary {
  const { jobs: _jobs, ...summary } = cost
  return summary
}

/**
 * What `images` images of a job cost, as recorded with each run: undefined for a free provider or
 * when no price is known (a record says "unknown" by having none).
 */
export function imageEstimator(table: PriceTable): (job: Job, images: number) => Money | undefined {
  return (job, images) => {
    if (!job.paid) return undefined
    const answer = table.perImage(job)
    return answer.known ? { amount: fromNanos(answer.nanos * images), currency: table.currency } : undefined
  }
}
