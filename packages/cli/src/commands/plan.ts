import { basename } from 'node:path'
import { costLines, costSummary, ESTIMATE_NOTE, type JobCost, jobCostText, type Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { printDiagnostics } from '../diagnostics.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'

/** `images-edit plan`: what a build would do, job by job and why, how many new images it would make and what they would cost. */
export async function plan(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const { loaded, plan: result, cost } = await project.plan({ only: recipes, force: values.force ?? [], strict: Boolean(values.strict), readThrough: true })
  const costs = new Map(cost.jobs.map((item) => [item.id, item]))
  if (values.json) {
    output.out.write(
      `${JSON.stringify({
        newImages: result.newImages,
        paidImages: result.paidImages,
        cost: { ...costSummary(cost), note: ESTIMATE_NOTE },
        jobs: result.jobs.map((item) => ({
          id: item.job.id,
          recipe: item.job.recipe,
          status: item.status,
          provider: item.job.provider,
          key: item.job.key,
          newImages: item.newImages,
          outputs: item.job.outputs,
          reasons: item.reasons,
          cost: costs.get(item.job.id) ?? { id: item.job.id, paidImages: 0, currency: cost.currency, amount: 0 },
        })),
      })}\n`,
    )
    return EXIT.ok
  }
  printDiagnostics(loaded.diagnostics, output, process.cwd(), false)
  const { colors: c } = output
  const marks = { fresh: c.dim('='), restore: c.cyan('↺'), generate: c.yellow('+'), blocked: c.red('!') }
  const words = { fresh: 'up to date', restore: 'restore (free)', generate: 'generate', blocked: 'blocked' }
  for (const item of result.jobs) {
    if (item.status === 'fresh' && !values.verbose) continue
    const cost =
      item.status === 'generate'
        ? ` ${item.newImages} image${item.newImages === 1 ? '' : 's'} on ${item.job.provider}${item.job.paid ? ' (paid)' : ' (free)'}${paidNote(costs.get(item.job.id))}`
        : ''
    output.out.write(`${marks[item.status]} ${item.job.id}: ${words[item.status]}${cost}\n`)
    for (const reason of item.reasons) output.out.write(`    ${c.dim('why:')} ${reason}\n`)
  }
  const counts = (status: string) => result.jobs.filter((item) => item.status === status).length
  output.out.write(
    `${result.jobs.length} jobs: ${counts('fresh')} up to date, ${counts('restore')} to restore, ${counts('generate')} to generate, ${counts('blocked')} blocked\n` +
      `${c.bold(`${result.newImages} new image${result.newImages === 1 ? '' : 's'}`)} would be generated, ${c.bold(`${result.paidImages} paid`)}\n`,
  )
  const lines = costLines(cost, basename(loaded.file))
  output.out.write(`${c.bold(lines.head)}\n`)
  if (lines.note) output.out.write(`  ${c.dim(`(${lines.note})`)}\n`)
  for (const line of lines.unpriced) output.out.write(`${c.yellow(line)}\n`)
  return EXIT.ok
}

/** ` ≈ $0.27` after a paid job, ` — no known price: <why>` when none is; nothing for a free job or images being collected. */
function paidNote(cost: JobCost | undefined): string {
  if (!cost || cost.paidImages === 0) return ''
  return cost.amount === undefined ? ` — ${jobCostText(cost)}` : ` ${jobCostText(cost)}`
}
