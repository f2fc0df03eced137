// The final shaping of a manifest's diagnostics: duplicates removed, manifest order, a cap.
import type { Diagnostic } from '../diagnostics.js'
import type { ManifestSource } from './source.js'

/** The diagnostics as returned: deduplicated, sorted by position, at most {@link MAX_DIAGNOSTICS} and a note. */
export function finishDiagnostics(diagnostics: Diagnostic[], source: ManifestSource): Diagnostic[] {
  return limit(sortDiagnostics(dedupe(diagnostics)), source)
}

function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>()
  return diagnostics.filter((diagnostic) => {
    const id = `${diagnostic.severity}:${diagnostic.line}:${diagnostic.column}:${diagnostic.rule}:${diagnostic.message}`
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
}

function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort((a, b) => a.line - b.line || a.column - b.column)
}

/** Most diagnostics returned; past that, one more says how many were left out. */
const MAX_DIAGNOSTICS = 500

function limit(diagnostics: Diagnostic[], source: ManifestSource): Diagnostic[] {
  if (diagnostics.length <= MAX_DIAGNOSTICS) return diagnostics
  const shown = diagnostics.slice(0, MAX_DIAGNOSTICS)
  const last = shown.at(-1) as Diagnostic
  shown.push({
    ...source.at(
      'error',
      'manifest/too-many-problems',
      0,
      1,
      `${diagnostics.length - MAX_DIAGNOSTICS} more problems are not shown`,
      'Fix the ones above first.',
    ),
    line: last.line,
    column: last.column,
  })
  return shown
}
