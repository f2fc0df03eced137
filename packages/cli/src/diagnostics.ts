import { type Diagnostic, formatDiagnostic } from '@images-edit/core'
import type { Output } from './reporters.js'

/** Prints located manifest problems (`file:line:col`, the line, the fix) to stderr; `strict` shows warnings as errors. */
export function printDiagnostics(diagnostics: readonly Diagnostic[], output: Output, cwd: string, strict: boolean): void {
  const { colors: c } = output
  for (const diagnostic of diagnostics) {
    const asError = diagnostic.severity === 'error' || strict
    const text = formatDiagnostic({ ...diagnostic, severity: asError ? 'error' : 'warning' }, { relativeTo: cwd })
    const [first, ...rest] = text.split('\n')
    output.err.write(
      `${asError ? c.red(first ?? '') : c.yellow(first ?? '')}\n${rest.map((line) => (line.startsWith('  fix:') ? c.cyan(line) : c.dim(line))).join('\n')}\n`,
    )
  }
}
