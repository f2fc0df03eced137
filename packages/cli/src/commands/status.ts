import type { OutputPlace, Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'
import { statusCost } from './status-cost.js'

/** `images-edit status`: each job's state against the lock and the files on disk. */
export async function status(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  if (values.cost) return statusCost(project, recipes, values, output)
  const { jobs, remote } = await project.status({ only: recipes })
  if (values.json) {
    output.out.write(`${JSON.stringify({ jobs, ...(remote ? { remote } : {}) })}\n`)
    return EXIT.ok
  }
  const { colors: c } = output
  for (const warning of remote?.warnings ?? []) output.err.write(`${c.yellow('warning:')} ${warning}\n`)
  const label = {
    'up-to-date': c.green('up to date'),
    stale: c.yellow('stale'),
    'missing-output': c.yellow('missing output'),
    modified: c.magenta('modified by hand'),
    blocked: c.red('blocked (edited output)'),
  }
  const width = Math.min(40, Math.max(8, ...jobs.map((job) => job.id.length)))
  for (const job of jobs) {
    output.out.write(`${job.id.padEnd(width)}  ${label[job.state]}${job.provider === 'local' ? c.dim(' [local placeholder]') : ''}${placesNote(job.where)}\n`)
    if (job.state !== 'up-to-date') for (const reason of job.reasons) output.out.write(`${' '.repeat(width)}    ${c.dim(reason)}\n`)
  }
  const fresh = jobs.filter((job) => job.state === 'up-to-date').length
  output.out.write(`${fresh}/${jobs.length} up to date\n`)
  const places = jobs.flatMap((job) => job.where)
  const tally = (place: OutputPlace) => places.filter((item) => item === place).length
  if (places.some((place) => place !== 'local')) {
    const parts = [
      `${tally('local')} local`,
      ...(remote ? [`${tally('remote-only')} only in the team store${tally('remote-only') > 0 ? ' (images-edit pull restores them)' : ''}`] : []),
      `${tally('missing')} missing${tally('missing') > 0 ? ' (a build generates them)' : ''}`,
      ...(tally('unknown') > 0 ? [c.yellow(`${tally('unknown')} unknown: the team store could not be asked (${remote?.error})`)] : []),
    ]
    output.out.write(`outputs: ${parts.join(', ')}\n`)
  }
  return EXIT.ok
}

/** ` (1 remote-only, 1 missing)` after a job whose outputs are not all here; nothing when they are. */
function placesNote(where: readonly OutputPlace[]): string {
  const away = (['remote-only', 'missing', 'unknown'] as const)
    .map((place) => [place, where.filter((item) => item === place).length] as const)
    .filter(([, n]) => n > 0)
  return away.length === 0 ? '' : ` (${away.map(([place, n]) => `${n} ${place}`).join(', ')})`
}
