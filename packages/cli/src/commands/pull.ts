import type { Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import { createJsonReporter, createPlainReporter, type Output } from '../reporters.js'
import { count } from '../wording.js'

/** `images-edit pull`: restores the outputs the lock names from the team store; exit 3 when one is nowhere. */
export async function pull(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const reporter = values.json ? createJsonReporter(output) : createPlainReporter(output)
  const report = await project.pull({
    only: recipes,
    forceLock: Boolean(values['force-lock']),
    // The plan line ("0 to generate") says nothing about a pull: its summary does.
    onEvent: (event) => (event.type === 'plan' ? undefined : reporter.event(event)),
  })
  const { result, missing, location } = report
  const lost = missing.filter((job) => job.inLock)
  const code = lost.length > 0 ? EXIT.refused : result.blocked.length > 0 ? EXIT.failed : EXIT.ok
  if (values.json) {
    output.out.write(`${JSON.stringify({ location, restored: result.restored, fresh: result.fresh, blocked: result.blocked, missing })}\n`)
    return code
  }
  const { colors: c } = output
  output.out.write(
    `pulled from ${location}: ${count(result.restored.length, 'job')} restored, ${result.fresh.length} up to date${result.blocked.length ? `, ${c.yellow(`${result.blocked.length} blocked`)}` : ''}${result.lockWritten ? ' · lock updated' : ''}\n`,
  )
  const unlocked = missing.filter((job) => !job.inLock)
  if (unlocked.length > 0) {
    output.out.write(`${count(unlocked.length, 'job')} not in the lock and not in the team store (a build would generate them, nothing was):\n`)
    for (const job of unlocked) output.out.write(`  ${job.id}${job.reasons.length ? c.dim(` — ${job.reasons.join('; ')}`) : ''}\n`)
  }
  if (lost.length > 0) {
    output.err.write(
      `${c.red('error:')} ${count(lost.length, 'job')} of the lock ${lost.length === 1 ? 'is' : 'are'} in neither the local store nor ${location}; nothing was generated:\n`,
    )
    for (const job of lost) output.err.write(`  ${job.id}: ${count(job.newImages, 'image')} missing\n`)
    output.err.write('Whoever built them can run `images-edit push --all`; or build them (paid) with `images-edit build`.\n')
  }
  return code
}
