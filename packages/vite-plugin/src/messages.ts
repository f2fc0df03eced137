import { relative } from 'node:path'
import { type Diagnostic, formatDiagnostic, ImagesEditError, isInside, ManifestError, RefusalError } from '@images-edit/core'

/** Prefix of every line the plugin logs. */
export const TAG = '[images-edit]'

/** A path as the user best recognises it: relative to Vite's root when inside it. */
export function displayPath(path: string, root: string): string {
  const inside = relative(root, path)
  return inside && isInside(root, path) ? inside : path
}

/** Every error of a manifest, each as `file:line:col: error: …` with its source line and fix. */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], root: string): string {
  const errors = diagnostics.filter((item) => item.severity === 'error')
  return errors.map((item) => formatDiagnostic({ ...item, file: displayPath(item.file, root) })).join('\n\n')
}

/**
 * A message for an error of the engine that the user can act on: manifest problems with their
 * locations, frozen/budget refusals with the jobs they concern, or the error's own message.
 */
export function describeError(error: unknown, root: string): string {
  if (error instanceof ManifestError || (ImagesEditError.is(error) && 'diagnostics' in error)) {
    const { diagnostics } = error as ManifestError
    const count = diagnostics.filter((item) => item.severity === 'error').length
    return `${count} problem${count === 1 ? '' : 's'} in the manifest:\n\n${formatDiagnostics(diagnostics, root)}`
  }
  if (error instanceof RefusalError || (ImagesEditError.is(error) && 'jobs' in error)) {
    const { jobs, message, code } = error as RefusalError
    return [
      message,
      ...jobs.map((job) => `  - ${job.id}: ${job.reason || 'not built yet'} (${job.newImages} new image${job.newImages === 1 ? '' : 's'})`),
      ...(code === 'FROZEN' ? ['In Vite, `vite build` is frozen when CI is set; pass imagesEdit({ frozen: false }) where generating is intended.'] : []),
      ...(code === 'REMOTE' ? ['In Vite, pass imagesEdit({ remote: false }) (or set IMAGES_EDIT_REMOTE=off) to generate here without the team store.'] : []),
    ].join('\n')
  }
  return error instanceof Error ? error.message : String(error)
}

/** Where the first error of a list points, for Vite's error overlay and `this.error`. */
export function locationOf(diagnostics: readonly Diagnostic[]): { file: string; line: number; column: number } | undefined {
  const first = diagnostics.find((item) => item.severity === 'error') ?? diagnostics[0]
  return first ? { file: first.file, line: first.line, column: first.column } : undefined
}

/** `images.edit.yaml:9:18: message (hint)`, the manifest's path relative to the Vite root. */
export function formatDiagnosticLine(diagnostic: Diagnostic, root: string): string {
  return `${relative(root, diagnostic.file) || diagnostic.file}:${diagnostic.line}:${diagnostic.column}: ${diagnostic.message}${diagnostic.hint ? ` (${diagnostic.hint})` : ''}`
}
