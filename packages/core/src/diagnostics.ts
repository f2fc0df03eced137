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

/** Formats a diagnostic as `file:line:col: severity message`, the source line, a caret, and the hint. */
export function formatDiagnostic(diagnostic: Diagnostic, options: { relativeTo?: string } = {}): string {
  const file = options.relativeTo ? relative(options.relativeTo, diagnostic.file) : diagnostic.file
  const lines = [`${file}:${diagnostic.line}:${diagnostic.column}: ${diagnostic.severity}: ${diagnostic.message} [${diagnostic.rule}]`]
  if (diagnostic.sourceLine !== undefined) {
    const gutter = String(diagnostic.line)
    lines.push(`  ${gutter} | ${diagnostic.sourceLine}`)
    const underline = '^'.repeat(Math.max(1, Math.min(diagnostic.length ?? 1, diagnostic.sourceLine.length - diagnostic.column + 1)))
    lines.push(`  ${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, diagnostic.column - 1))}${underline}`)
  }
  if (diagnostic.hint) lines.push(`  fix: ${diagnostic.hint}`)
  return lines.join('\n')
}
