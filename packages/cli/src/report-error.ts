import { fsError, ImagesEditError, isFsError, ManifestError, RefusalError } from '@images-edit/core'
import { printDiagnostics } from './diagnostics.js'
import { EXIT } from './exit-codes.js'
import type { Output } from './reporters.js'
import { UsageError } from './usage-error.js'

/**
 * Turns what a command threw into its message (and its `--json` line) and exit code: a usage
 * mistake or an invalid manifest is 2, a refusal 3, a user-facing failure 1, anything else is
 * reported as a bug in images-edit.
 */
export function reportError(error: unknown, output: Output, values: { json?: boolean | undefined; strict?: boolean | undefined }): number {
  const { colors: c } = output
  if (error instanceof UsageError) {
    if (values.json)
      output.out.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) })}\n`)
    output.err.write(`${c.red('error:')} ${error.message}\n${error.hint ? `${error.hint}\n` : ''}`)
    return EXIT.usage
  }
  if (error instanceof ManifestError) {
    if (values.json) output.out.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message, diagnostics: error.diagnostics })}\n`)
    printDiagnostics(error.diagnostics, output, process.cwd(), Boolean(values.strict))
    output.err.write(`${c.red('error:')} ${error.message}\n`)
    return EXIT.usage
  }
  if (error instanceof RefusalError) {
    if (values.json) output.out.write(`${JSON.stringify({ type: 'refused', code: error.code, message: error.message, jobs: error.jobs })}\n`)
    output.err.write(`${c.red('refused:')} ${error.message}\n`)
    for (const job of error.jobs) output.err.write(`  ${job.id}: ${job.newImages} new image${job.newImages === 1 ? '' : 's'} — ${job.reason}\n`)
    return EXIT.refused
  }
  // A read-only or full disk is the user's environment, not a bug: said plainly, with the path.
  if (!ImagesEditError.is(error) && isFsError(error)) error = fsError(error, { doing: 'a file operation' })
  if (ImagesEditError.is(error) && error.userFacing) {
    if (values.json) output.out.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message })}\n`)
    output.err.write(`${c.red('error:')} ${error.message}\n`)
    return error.code === 'USAGE' || error.code === 'MANIFEST_NOT_FOUND' || error.code === 'LOCK_EDITED' ? EXIT.usage : EXIT.failed
  }
  output.err.write(
    `${c.red('internal error')} — this is a bug in images-edit, please report it with the output below:\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  return EXIT.failed
}
