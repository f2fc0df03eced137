import type { Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'
import { count } from '../wording.js'

/** `images-edit push`: uploads the results queued for the team store (with `--all`, every stored result). */
export async function push(project: Project, values: Values, output: Output): Promise<number> {
  const report = await project.push({ all: Boolean(values.all) })
  if (values.json) {
    output.out.write(`${JSON.stringify(report)}\n`)
    return report.failed.length > 0 ? EXIT.failed : EXIT.ok
  }
  const { colors: c } = output
  for (const warning of report.warnings) output.err.write(`${c.yellow('warning:')} ${warning}\n`)
  if (report.pushed === 0 && report.failed.length === 0) output.out.write(`nothing to push to ${report.location}\n`)
  else if (report.pushed > 0) output.out.write(`pushed ${count(report.pushed, 'result')} to ${report.location}\n`)
  if (report.failed.length === 0) return EXIT.ok
  output.err.write(
    `${c.red('error:')} ${count(report.failed.length, 'result')} could not be pushed to ${report.location} (${report.failed[0]?.message}); ${report.failed.length === 1 ? 'it stays' : 'they stay'} queued: run \`images-edit push\` again\n`,
  )
  return EXIT.failed
}
