import { relative } from 'node:path'

/** Severity of a manifest problem. Warnings become errors under `--strict`. */
export type Severity = 'error' | 'warning'

/** One problem found in a manifest, located in its source. */
export interface Diagnostic {
  severity: Severity
  /** Stable rule id, e.g. `schema/enum`, `refs/missing`, `mask/no-alpha`. */
  rule: string
  message: string
  /** How to fix it, in one sentence. */
  hint?: string
  /** Manifest path as given to the loader (absolute). */
  file: string
  /** 1-based line and column of the offending node. */
  line: number
  column: number
  /** The source line the problem is on, for display. */
  sourceLine?: string
  /** Length of the offending span on `sourceLine` (for the caret underline). */
  length?: number
}

/** Longest part of a source line shown under a diagnostic. */
const WINDOW = 160

/** Formats a diagnostic as `file:line:col: severity message`, the source line, a caret, and the hint. */
export function formatDiagnostic(diagnostic: Diagnostic, options: { relativeTo?: string } = {}): string {
  const file = options.relativeTo ? relative(options.relativeTo, diagnostic.file) : diagnostic.file
  const lines = [`${file}:${diagnostic.line}:${diagnostic.column}: ${diagnostic.severity}: ${diagnostic.message} [${diagnostic.rule}]`]
  if (diagnostic.sourceLine !== undefined) {
    const gutter = String(diagnostic.line)
    // A long line (a minified or generated manifest) is shown as a window around the column.
    const start = diagnostic.sourceLine.length > WINDOW ? Math.max(0, Math.min(diagnostic.column - 1 - 40, diagnostic.sourceLine.length - WINDOW)) : 0
    const shown = `${start > 0 ? '…' : ''}${diagnostic.sourceLine.slice(start, start + WINDOW)}${start + WINDOW < diagnostic.sourceLine.length ? '…' : ''}`
    const caretAt = diagnostic.column - 1 - start + (start > 0 ? 1 : 0)
    lines.push(`  ${gutter} | ${shown}`)
    const underline = '^'.repeat(Math.max(1, Math.min(diagnostic.length ?? 1, shown.length - caretAt)))
    lines.push(`  ${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, caretAt))}${underline}`)
  }
  if (diagnostic.hint) lines.push(`  fix: ${diagnostic.hint}`)
  return lines.join('\n')
}
