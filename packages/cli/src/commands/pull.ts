import type { MissingJob, Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import { createJsonReporter, createPlainReporter, type Output } from '../reporters.js'
import { count } from '../wording.js'

/** What `pull` runs with besides its flags. */
export interface PullContext {
  /** Aborted on Ctrl-C: no new restore starts. */
  signal: AbortSignal
}

/**
 * `images-edit pull`: restores the outputs the lock names from the local store or the team store.
 * Exit 130 when interrupted, 3 when a paid output the lock names is in neither store, 1 when a
 * restore failed or an edited output blocked one, else 0.
 */
export async function pull(project: Project, recipes: string[], values: Values, output: Output, context: PullContext): Promise<number> {
  const reporter = values.json ? createJsonReporter(output) : createPlainReporter(output)
  const report = await project.pull({
    only: recipes,
    forceLock: Boolean(values['force-lock']),
    signal: context.signal,
    // The plan line ("0 to generate") says nothing about a pull: its summary does.
    onEvent: (event) => (event.type === 'plan' ? undefined : reporter.event(event)),
  })
  const { result, missing, location } = report
  const lost = missing.filter(isLost)
  const code = result.interrupted
    ? EXIT.interrupted
    : lost.length > 0
      ? EXIT.refused
      : result.failed.length > 0 || result.blocked.length > 0
        ? EXIT.failed
        : EXIT.ok
  if (values.json) {
    output.out.write(
      `${JSON.stringify({ location, restored: result.restored, fresh: result.fresh, failed: result.failed, blocked: result.blocked, missing })}\n`,
    )
    return code
  }
  const { colors: c } = output
  output.out.write(
    `pulled from ${location}: ${count(result.restored.length, 'job')} restored, ${result.fresh.length} up to date${result.failed.length ? `, ${c.red(`${result.failed.length} failed`)}` : ''}${result.blocked.length ? `, ${c.yellow(`${result.blocked.length} blocked`)}` : ''}${result.lockWritten ? ' · lock updated' : ''}\n`,
  )
  const toBuild = missing.filter((job) => !isLost(job))
  if (toBuild.length > 0) {
    output.out.write(`${count(toBuild.length, 'job')} still to be made by a build (nothing was generated):\n`)
    for (const job of toBuild) output.out.write(`  ${job.id}: ${why(job)}\n`)
  }
  if (lost.length > 0) {
    output.err.write(
      `${c.red('error:')} ${count(lost.length, 'job')} of the lock ${lost.length === 1 ? 'is' : 'are'} in neither the local store nor ${location}; nothing was generated:\n`,
    )
    for (const job of lost) output.err.write(`  ${job.id}: ${count(job.lockedMissing, 'image')} missing\n`)
    output.err.write('Whoever built them can run `images-edit push --all`; or build them (paid) with `images-edit build`.\n')
  }
  for (const item of result.failed) output.err.write(`${c.red('failed:')} ${item.id}: ${item.error.message}\n`)
  if (result.interrupted) output.err.write('interrupted: what was restored is recorded; rerun `images-edit pull` for the rest.\n')
  return code
}

/** Paid images the lock pins that no store has, and no journaled task will bring. */
function isLost(job: MissingJob): boolean {
  return !job.free && job.lockedMissing > job.collecting
}

function why(job: MissingJob): string {
  if (job.free) return `${count(job.newImages, 'image')} from the local provider, free`
  if (job.collecting > 0) return `${count(job.collecting, 'journaled image')}: a build collects ${job.collecting === 1 ? 'it' : 'them'} at no cost`
  return `${count(job.newImages, 'new image')} (${job.reasons.join('; ') || 'not built yet'})`
}
