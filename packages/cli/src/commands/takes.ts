import { type JobTakes, type Project, type TakeInfo, takeCostText } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'
import { count } from '../wording.js'

/** `images-edit takes [recipe…]`: every take and candidate of the jobs, the picked images marked. */
export async function takes(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const jobs = await project.takes({ only: recipes })
  if (values.json) {
    output.out.write(`${JSON.stringify({ jobs })}\n`)
    return EXIT.ok
  }
  for (const job of jobs) printJob(job, output)
  if (jobs.length === 0) output.out.write('no jobs\n')
  return EXIT.ok
}

function printJob(job: JobTakes, output: Output): void {
  const { colors: c } = output
  const shape = job.candidates > job.n ? `${count(job.candidates, 'candidate')} per take, ${count(job.n, 'output')}` : count(job.n, 'output')
  output.out.write(`${c.bold(job.id)} (${job.provider}/${job.model}, ${shape}): ${JSON.stringify(job.prompt)}\n`)
  if (job.takes.length === 0) {
    output.out.write(`  no takes yet: a build generates take ${job.take}\n`)
    return
  }
  for (const take of job.takes) printTake(take, job.paid, output)
  const picked = job.picks.map((image, index) => `${job.outputs[index]} = ${job.take}/${image}`).join(', ')
  output.out.write(`  ${c.dim('outputs:')} ${picked} · pick another with ${c.cyan(`images-edit pick ${job.id} <take>/<image>`)}\n`)
}

function printTake(take: TakeInfo, paid: boolean, output: Output): void {
  const { colors: c } = output
  const when = take.at ? take.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : take.lockOnly ? 'known from the lock only' : 'time unknown'
  const cost = takeCostText(take, paid)
  output.out.write(`  ${take.current ? c.green('▸') : ' '} take ${take.take} · ${when} · ${take.provider}/${take.model} · ${cost}\n`)
  for (const image of take.images) {
    const mark = image.outputs.length > 0 ? c.green(`← ${image.outputs.join(', ')}`) : ''
    const where = image.file ?? (image.stored ? 'stored' : c.dim('not here (pull, or build where it was made)'))
    output.out.write(`      ${take.take}/${image.image}  ${image.width}×${image.height} ${image.format}  ${image.sha256.slice(0, 12)}  ${where} ${mark}\n`)
  }
  if (take.images.length === 0) output.out.write(`      ${c.dim('no images stored')}\n`)
}
