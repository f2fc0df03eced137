import { type CostTotals, costReport, ESTIMATE_NOTE, MoneySum, type Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`
const tokens = (count: number) => count.toLocaleString('en-US')

function money(list: CostTotals['estimated']): string | undefined {
  const sum = new MoneySum()
  for (const item of list) sum.add(item)
  return sum.text()
}

/** What the estimates recorded say: `estimated ≈ $0.40`, `…, and no known price for 2 images`, `estimated: no known price for 2 images`. */
function estimatedPart(totals: CostTotals): string {
  const known = money(totals.estimated)
  const unknown = totals.unestimatedImages > 0 ? `no known price for ${plural(totals.unestimatedImages, 'image')}` : undefined
  if (known && unknown) return `estimated ≈ ${known}, and ${unknown}`
  return known ? `estimated ≈ ${known}` : `estimated: ${unknown ?? 'nothing'}`
}

/** What the providers reported: tokens as they said them, and money where the token rates are known. */
function reportedPart(totals: CostTotals): string {
  if (!totals.tokens) return 'reported: no token usage'
  const known = money(totals.reported)
  const head = `reported ${tokens(totals.tokens.input)} input + ${tokens(totals.tokens.output)} output tokens${known ? ` ≈ ${known}` : ''}`
  if (totals.unreportedRuns === 0) return head
  return `${head}; ${plural(totals.unreportedRuns, 'run')} not in money (${totals.unreportedReasons.join('; ')})`
}

/** One line of what a recipe (or the total) has cost; says so where nothing is known. */
export function totalsLine(totals: CostTotals): string {
  if (totals.images === 0 && totals.billedWithoutImages === 0) return 'nothing generated yet'
  const images = `${plural(totals.images, 'image')}${totals.paidImages < totals.images ? ` (${totals.paidImages} paid)` : ''}`
  if (totals.paidImages === 0 && totals.billedWithoutImages === 0) return `${images} · free (local)`
  const billed = totals.billedWithoutImages > 0 ? [`${plural(totals.billedWithoutImages, 'call')} billed without images`] : []
  return [images, estimatedPart(totals), reportedPart(totals), ...billed].join(' · ')
}

/** `images-edit status --cost`: what each recipe has cost so far, from the store's records. */
export async function statusCost(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const cost = await costReport(project, recipes)
  if (values.json) {
    output.out.write(`${JSON.stringify({ cost: { ...cost, note: ESTIMATE_NOTE } })}\n`)
    return EXIT.ok
  }
  const { colors: c } = output
  const rows: [string, CostTotals][] = [
    ...cost.recipes.map((item): [string, CostTotals] => [item.recipe, item]),
    ...(cost.unattributed ? [['earlier recipe versions', cost.unattributed] as [string, CostTotals]] : []),
  ]
  const width = Math.min(40, Math.max(5, ...rows.map(([name]) => name.length)))
  for (const [name, totals] of rows) output.out.write(`${name.padEnd(width)}  ${totalsLine(totals)}\n`)
  output.out.write(`${c.bold('total'.padEnd(width))}  ${c.bold(totalsLine(cost.total))}\n`)
  output.out.write(c.dim(`Estimated at the prices of each run: ${ESTIMATE_NOTE}.\n`))
  return EXIT.ok
}
