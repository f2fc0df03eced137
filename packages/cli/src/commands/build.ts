import { relative } from 'node:path'
import type { BuildResult, Project } from '@images-edit/core'
import { explicitFrozen, parseAmount, parseCount, type Values } from '../args.js'
import { printDiagnostics } from '../diagnostics.js'
import { EXIT } from '../exit-codes.js'
import { createLiveReporter } from '../live-reporter.js'
import { createJsonReporter, createPlainReporter, type Output, type Reporter, type WarningOptions, warningEventText } from '../reporters.js'
import { journaledTaskLine } from '../wording.js'

/** What a build needs from the command line besides its flags. */
export interface BuildContext {
  env: NodeJS.ProcessEnv
  /** Aborted on the first Ctrl-C: nothing new starts. */
  signal: AbortSignal
  /** Aborted on the second Ctrl-C: paid calls in flight are abandoned. */
  abandon: AbortSignal
}

/** `images-edit build`: builds the stale jobs with a live, plain or `--json` report, then a summary line. */
export async function build(project: Project, recipes: string[], values: Values, output: Output, context: BuildContext): Promise<number> {
  const frozen = explicitFrozen(values)
  const maxImages = parseCount('max-images', values['max-images'], 0)
  const maxSpend = parseAmount('max-spend', values['max-spend'])
  const concurrency = parseCount('concurrency', values.concurrency, 1)
  const strict = Boolean(values.strict)
  // Loaded here so its warnings are printed as validate and plan print them (file:line:col, the
  // line, the fix); the engine's copies of them in the event stream are then not printed again.
  const loaded = await project.loadValid(strict)
  const warnings = loaded.diagnostics.filter((item) => item.severity === 'warning')
  if (!values.json && !output.quiet) printDiagnostics(warnings, output, process.cwd(), false)
  const shown: WarningOptions = { manifestFile: relative(process.cwd(), project.manifestPath), printed: new Set(warnings.map(warningEventText)) }
  const reporter: Reporter = values.json
    ? createJsonReporter(output)
    : output.out.isTTY && !output.quiet
      ? await createLiveReporter(output, shown)
      : createPlainReporter(output, shown)
  let result: BuildResult
  try {
    result = await project.build({
      loaded,
      only: recipes,
      force: values.force ?? [],
      ...(frozen !== undefined ? { frozen } : {}),
      ...(maxImages !== undefined ? { maxImages } : {}),
      ...(maxSpend !== undefined ? { maxSpend } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      keepGoing: !values['no-keep-going'],
      forceLock: Boolean(values['force-lock']),
      strict,
      signal: context.signal,
      abandon: context.abandon,
      onEvent: (event) => reporter.event(event),
    })
  } finally {
    reporter.close()
  }
  if (!values.json) await printSummary(project, result, output)
  return exitOf(result)
}

/** The summary line, then what failed, what was billed without a result, and what an interruption left in flight. */
async function printSummary(project: Project, result: BuildResult, output: Output): Promise<void> {
  const { colors: c } = output
  const out = relative(process.cwd(), result.loaded.outDir) || '.'
  const parts = [
    `${result.done.length} generated (${result.newImages} new image${result.newImages === 1 ? '' : 's'})`,
    `${result.fresh.length} up to date`,
    `${result.restored.length} restored`,
    result.failed.length ? c.red(`${result.failed.length} failed`) : '0 failed',
    ...(result.blocked.length ? [c.yellow(`${result.blocked.length} blocked`)] : []),
    ...(result.notStarted.length ? [c.yellow(`${result.notStarted.length} interrupted`)] : []),
  ]
  output.out.write(`${parts.join(', ')} · outputs in ${out}/${result.lockWritten ? ` · ${relative(process.cwd(), project.lockPath)} updated` : ''}\n`)
  if (result.failed.length > 0) {
    output.err.write(
      `${c.red('failed:')}\n${result.failed.map((item) => `  ${item.id}: ${item.error.message}`).join('\n')}\nRerun \`images-edit build\` to retry only what failed.\n`,
    )
  }
  const billed = result.failed.filter((item) => item.error.billed)
  if (billed.length > 0) {
    output.err.write(`${c.yellow('billed without a stored result:')}\n`)
    for (const item of billed)
      output.err.write(
        `  ${item.id}: ${item.error.billed === 'yes' ? 'billed' : 'may have been billed'}${item.error.taskId ? ` (task ${item.error.taskId})` : ''}\n`,
      )
  }
  if (result.interrupted) {
    const inFlight = await project.inFlight()
    output.err.write('interrupted: finished results are saved and recorded in the lock.\n')
    if (inFlight.length > 0) {
      output.err.write(`${inFlight.length} paid task${inFlight.length === 1 ? ' is' : 's are'} still in flight and journaled (not paid again on rerun):\n`)
      for (const entry of inFlight) output.err.write(journaledTaskLine(entry))
    }
    output.err.write('Rerun `images-edit build` to collect the rest.\n')
  }
}

/** 130 when interrupted, 1 when anything failed or was blocked, else 0. */
function exitOf(result: { interrupted: boolean; failed: unknown[]; blocked: unknown[] }): number {
  if (result.interrupted) return EXIT.interrupted
  return result.failed.length > 0 || result.blocked.length > 0 ? EXIT.failed : EXIT.ok
}
