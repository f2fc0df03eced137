import { relative } from 'node:path'
import type { Project } from '@images-edit/core'
import type { Values } from '../args.js'
import { printDiagnostics } from '../diagnostics.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'

/** `images-edit validate`: the manifest's problems, located; exit 2 when any is an error (`--strict`: any at all). */
export async function validate(project: Project, values: Values, output: Output): Promise<number> {
  const loaded = await project.load()
  const strict = Boolean(values.strict)
  const errors = loaded.diagnostics.filter((item) => item.severity === 'error' || strict)
  const warnings = loaded.diagnostics.length - errors.length
  if (values.json) {
    output.out.write(`${JSON.stringify({ valid: errors.length === 0, manifest: loaded.file, jobs: loaded.jobs.length, diagnostics: loaded.diagnostics })}\n`)
  } else {
    printDiagnostics(loaded.diagnostics, output, process.cwd(), strict)
    if (errors.length === 0) {
      output.out.write(
        `${output.colors.green('✓')} ${relative(process.cwd(), loaded.file)} is valid: ${loaded.jobs.length} job${loaded.jobs.length === 1 ? '' : 's'} from ${new Set(loaded.jobs.map((job) => job.recipe)).size} recipe(s)${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}\n`,
      )
    } else {
      output.err.write(
        `${errors.length} error${errors.length === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''} in ${relative(process.cwd(), loaded.file)}\n`,
      )
    }
  }
  return errors.length === 0 ? EXIT.ok : EXIT.usage
}
