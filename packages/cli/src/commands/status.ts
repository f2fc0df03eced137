import type { Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'

/** `images-edit status`: each job's state against the lock and the files on disk. */
export async function status(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const { jobs } = await project.status({ only: recipes })
  if (values.json) {
    output.out.write(`${JSON.stringify({ jobs })}\n`)
    return EXIT.ok
  }
  const { colors: c } = output
  const label = {
    'up-to-date': c.green('up to date'),
    stale: c.yellow('stale'),
    'missing-output': c.yellow('missing output'),
    modified: c.magenta('modified by hand'),
    blocked: c.red('blocked (edited output)'),
  }
  const width = Math.min(40, Math.max(8, ...jobs.map((job) => job.id.length)))
  for (const job of jobs) {
    output.out.write(`${job.id.padEnd(width)}  ${label[job.state]}${job.provider === 'local' ? c.dim(' [local placeholder]') : ''}\n`)
    if (job.state !== 'up-to-date') for (const reason of job.reasons) output.out.write(`${' '.repeat(width)}    ${c.dim(reason)}\n`)
  }
  const fresh = jobs.filter((job) => job.state === 'up-to-date').length
  output.out.write(`${fresh}/${jobs.length} up to date\n`)
  return EXIT.ok
}
