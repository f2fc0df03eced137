import type { Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { printDiagnostics } from '../diagnostics.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'

/** `images-edit plan`: what a build would do, job by job and why, and how many new images it would make. */
export async function plan(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const { loaded, plan: result } = await project.plan({ only: recipes, force: values.force ?? [], strict: Boolean(values.strict), readThrough: true })
  if (values.json) {
    output.out.write(
      `${JSON.stringify({
        newImages: result.newImages,
        paidImages: result.paidImages,
        jobs: result.jobs.map((item) => ({
          id: item.job.id,
          recipe: item.job.recipe,
          status: item.status,
          provider: item.job.provider,
          key: item.job.key,
          newImages: item.newImages,
          outputs: item.job.outputs,
          reasons: item.reasons,
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
        ? ` ${item.newImages} image${item.newImages === 1 ? '' : 's'} on ${item.job.provider}${item.job.paid ? ' (paid)' : ' (free)'}`
        : ''
    output.out.write(`${marks[item.status]} ${item.job.id}: ${words[item.status]}${cost}\n`)
    for (const reason of item.reasons) output.out.write(`    ${c.dim('why:')} ${reason}\n`)
  }
  const counts = (status: string) => result.jobs.filter((item) => item.status === status).length
  output.out.write(
    `${result.jobs.length} jobs: ${counts('fresh')} up to date, ${counts('restore')} to restore, ${counts('generate')} to generate, ${counts('blocked')} blocked\n` +
      `${c.bold(`${result.newImages} new image${result.newImages === 1 ? '' : 's'}`)} would be generated, ${c.bold(`${result.paidImages} paid`)}\n`,
  )
  return EXIT.ok
}
