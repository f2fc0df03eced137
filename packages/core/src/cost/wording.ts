// How a cost is said, the same in `plan`, the build's report, the Vite log and refusals.
import type { CostSummary, JobCost, Unpriced } from './estimate.js'
import { formatMoney, MoneySum } from './money.js'
import type { Money } from './price-types.js'

/** What every estimate leaves out, said wherever one is shown. */
export const ESTIMATE_NOTE = 'output images only: the input tokens of the prompt and the reference images are billed on top, and are in the reported cost'

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`

/** `2 images on aa/gpt-image-1.5 have no known price (set prices.aa."gpt-image-1.5" in images.edit.yaml)`. */
export function unpricedLine(group: Unpriced, manifestName: string): string {
  const verb = group.images === 1 ? 'has' : 'have'
  const reason = group.reason === 'no known price' ? '' : `: ${group.reason}`
  return `${plural(group.images, 'image')} on ${group.provider}/${group.model} ${verb} no known price${reason} (set ${group.setting} in ${manifestName})`
}

/** The money part alone: `≈ $0.76`, `≈ $0.50 for 2 of them, 2 with no known price`, `with no known price`, `nothing to pay`. */
export function costText(cost: CostSummary): string {
  if (cost.paidImages === 0) return 'nothing to pay'
  if (cost.pricedImages === 0) return 'with no known price'
  const amount = `≈ ${formatMoney({ amount: cost.amount, currency: cost.currency })}`
  return cost.complete ? amount : `${amount} for ${cost.pricedImages} of them, ${cost.paidImages - cost.pricedImages} with no known price`
}

/**
 * The cost of a run: `4 new paid images ≈ $0.76`, what the estimate leaves out, then one line per
 * group of images no price covers.
 */
export function costLines(cost: CostSummary, manifestName: string): { head: string; note?: string; unpriced: string[] } {
  if (cost.paidImages === 0) return { head: 'cost: nothing to pay (no paid images)', unpriced: [] }
  return {
    head: `${plural(cost.paidImages, 'new paid image')}${cost.complete || cost.pricedImages === 0 ? ' ' : ': '}${costText(cost)}`,
    note: `estimate of ${ESTIMATE_NOTE}`,
    unpriced: cost.unpriced.map((group) => unpricedLine(group, manifestName)),
  }
}

/** A job's cost in a listing: `≈ $0.27`, `≈ $0.00 (free)`, `no known price: <why>`. */
export function jobCostText(cost: JobCost): string {
  if (cost.amount === undefined) return `no known price${cost.unknown && cost.unknown.reason !== 'no known price' ? `: ${cost.unknown.reason}` : ''}`
  return `≈ ${formatMoney({ amount: cost.amount, currency: cost.currency })}`
}

/**
 * What a take cost as estimated when its calls ran (output images only), or why that is not
 * known: `≈ $0.20`, `free`, `no known price`. The same in `images-edit takes` and the dev panel.
 */
export function takeCostText(take: { runs: readonly { estimate?: Money }[]; lockOnly?: boolean }, paid: boolean): string {
  if (!paid) return 'free'
  if (take.runs.length === 0) return take.lockOnly ? 'cost not recorded here' : 'no estimate recorded'
  const sum = new MoneySum()
  for (const run of take.runs) sum.add(run.estimate)
  const amounts = sum.list().map((money) => `≈ ${formatMoney(money)}`)
  const missing = take.runs.filter((run) => !run.estimate).length
  if (amounts.length === 0) return 'no known price'
  return missing > 0 ? `${amounts.join(' + ')} (+ ${plural(missing, 'call')} with no known price)` : amounts.join(' + ')
}
