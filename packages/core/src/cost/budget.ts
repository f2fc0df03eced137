// The spend budget: a run whose estimate is over it, or cannot be estimated, is refused before any call.
import { RefusalError } from '../errors.js'
import type { CostSummary } from './estimate.js'
import { formatMoney, toNanos } from './money.js'
import { unpricedLine } from './wording.js'

/** Where the budget was set, for the message. */
export interface SpendLimit {
  amount: number
  /** `--max-spend` (the build's option) or `budget.maxSpend` (the manifest). */
  from: '--max-spend' | 'budget.maxSpend'
  manifestName: string
}

/**
 * Throws a `BUDGET` refusal when the run's estimate is over the limit, or when some paid images
 * have no known price: then the spend cannot be checked, and money is never spent by surprise.
 * Compared exactly (in billionths), so a run of exactly the limit runs.
 */
export function refuseSpend(cost: CostSummary, limit: SpendLimit, jobs: () => RefusalError['jobs']): void {
  if (cost.paidImages === 0) return
  const shown = formatMoney({ amount: limit.amount, currency: cost.currency })
  const other = limit.from === '--max-spend' ? 'budget.maxSpend' : '--max-spend'
  if (!cost.complete) {
    const groups = cost.unpriced.map((group) => unpricedLine(group, limit.manifestName)).join('; ')
    const unpriced = cost.paidImages - cost.pricedImages
    throw new RefusalError(
      'BUDGET',
      `${limit.from} is ${shown}, but ${unpriced} of the ${cost.paidImages} paid image${cost.paidImages === 1 ? '' : 's'} ${unpriced === 1 ? 'has' : 'have'} no known price, so the spend cannot be checked: ${groups}. Set their prices, or limit the run with --max-images (budget.maxImagesPerRun) instead.`,
      jobs(),
    )
  }
  if (toNanos(cost.amount) <= toNanos(limit.amount)) return
  const estimate = formatMoney({ amount: cost.amount, currency: cost.currency })
  throw new RefusalError(
    'BUDGET',
    `this run would cost ≈ ${estimate} for ${cost.paidImages} paid image${cost.paidImages === 1 ? '' : 's'} (output images only; input tokens come on top), over ${limit.from} ${shown}. Raise ${limit.from} (or ${other}), or build fewer recipes at once (images-edit build <recipe…>).`,
    jobs(),
  )
}
