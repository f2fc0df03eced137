import type { GcReport, Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import { formatBytes, type Output } from '../reporters.js'
import { count } from '../wording.js'

/** `images-edit gc`: deletes (or, with `--dry-run`, lists) what no recipe uses any more, and what that frees. */
export async function gc(project: Project, values: Values, output: Output): Promise<number> {
  const dryRun = Boolean(values['dry-run'])
  const report = await project.gc({ dryRun })
  if (values.json) {
    output.out.write(`${JSON.stringify({ dryRun, ...report })}\n`)
    return EXIT.ok
  }
  const verb = dryRun ? 'would delete' : 'deleted'
  const line = (text: string) => output.out.write(`${text}\n`)
  for (const path of report.outputs) line(`${verb} output ${path}`)
  // A result is named by the outputs it was written to when those go too; an output that stays
  // (edited by hand since) is not named, so no line reads as if it were deleted.
  const deleting = new Set(report.outputs)
  for (const result of report.results) line(`${verb} ${describeResult(result, deleting)}`)
  for (const take of report.takes) {
    const inUse = take.kept.length === 1 ? `take ${take.kept[0]} is in use` : `takes ${take.kept.join(', ')} are in use`
    line(
      `${verb} take ${take.take} of ${take.jobs.join(', ') || 'a job no longer in the manifest'} (${count(take.images, 'image')}, ${formatBytes(take.bytes)}; ${inUse})`,
    )
  }
  if (output.verbose) for (const hash of report.objects) line(`${verb} stored image ${hash.slice(0, 12)}`)
  const what = [
    ...(report.outputs.length ? [count(report.outputs.length, 'output file')] : []),
    ...(report.results.length ? [count(report.results.length, 'old result')] : []),
    ...(report.takes.length ? [count(report.takes.length, 'old take')] : []),
    ...(report.objects.length ? [count(report.objects.length, 'stored image')] : []),
  ]
  if (what.length === 0) {
    line(dryRun ? 'dry run: nothing to delete' : 'nothing to delete')
    return EXIT.ok
  }
  const list = what.length > 1 ? `${what.slice(0, -1).join(', ')} and ${what.at(-1)}` : what.join('')
  const freed = `freeing ${formatBytes(report.bytes)} in .images-edit/${report.outputs.length ? ` and ${formatBytes(report.outputBytes)} of outputs` : ''}`
  line(dryRun ? `dry run: would delete ${list}, ${freed}; run \`images-edit gc\` to delete them` : `deleted ${list}, ${freed}`)
  return EXIT.ok
}

/** A result record gc deletes: its key names no recipe, so say what it held and where it went. */
function describeResult(result: GcReport['results'][number], deletedOutputs: ReadonlySet<string>): string {
  if (result.provider === undefined) return `a damaged result record (${formatBytes(result.bytes)})`
  const facts = [
    `${result.provider} ${result.model}`,
    count(result.images, 'image'),
    formatBytes(result.bytes),
    ...(result.storedAt ? [`stored ${result.storedAt.slice(0, 16).replace('T', ' ')} UTC`] : []),
  ].join(', ')
  const outputs = result.outputs.filter((path) => deletedOutputs.has(path))
  return outputs.length ? `the old result behind ${outputs.join(', ')} (${facts})` : `an old result no recipe uses any more (${facts})`
}
