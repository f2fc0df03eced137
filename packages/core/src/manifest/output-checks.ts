// Checks of where outputs go: the `out` folder, each output path where it really leads, and output names.
import { join, posix, relative, resolve } from 'node:path'
import type { Diagnostic } from '../diagnostics.js'
import { checkProjectPath, type PathCheckOptions, realPathOf, reservedReason } from '../fs/project-fs.js'
import type { ExpandContext, Planned } from './expand-context.js'
import { isInside } from './rules.js'
import type { DocPath, ManifestSource } from './source.js'
import { DEFAULT_OUT, type Manifest } from './types.js'
import type { SchemaFindings } from './validate-schema.js'

/** Where `out` is checked from, and how. */
export interface OutCheckOptions {
  root: string
  realRoot: string
  manifestName: string
  allowOutsideProject: boolean
  source: ManifestSource
}

/**
 * The absolute output folder, and whether it is sound: known (no schema error), inside the project
 * (unless allowed) and not a reserved folder where it really leads. Its problems are reported at `out`.
 */
export async function checkOut(
  manifest: Manifest,
  findings: SchemaFindings,
  options: OutCheckOptions,
  diagnostics: Diagnostic[],
): Promise<{ outDir: string; outSound: boolean }> {
  const { root, realRoot, manifestName, source } = options
  // Backslashes separate folders in `out` as they do in names, so outputs and `outDir` agree.
  const outKnown = !findings.isInvalid(['out']) && (manifest.out === undefined || typeof manifest.out === 'string')
  const outText = outKnown && typeof manifest.out === 'string' ? manifest.out : DEFAULT_OUT
  const outDir = resolve(root, outText.split('\\').join('/'))
  // Output paths are checked where they really lead only when `out` itself is sound.
  let outSound = outKnown
  if (outKnown) {
    if (!options.allowOutsideProject && !isInside(root, outDir)) {
      diagnostics.push(
        source.diagnostic(
          'error',
          'out/outside-project',
          ['out'],
          `\`out: ${manifest.out}\` is outside the project folder ${root}`,
          'Use a folder inside the project, or set `security.allowOutsideProject: true` if writing outside is intended.',
        ),
      )
      outSound = false
    } else {
      const outProblem = await checkOutFolder(outDir, { realRoot, allowOutside: options.allowOutsideProject, manifestName })
      if (outProblem) {
        diagnostics.push(source.diagnostic('error', outProblem.rule, ['out'], `\`out: ${manifest.out ?? DEFAULT_OUT}\` ${outProblem.message}`, outProblem.hint))
        outSound = false
      }
    }
  }
  return { outDir, outSound }
}

/** Why the output folder may not be written into (where it really leads), or undefined. */
async function checkOutFolder(
  outDir: string,
  options: { realRoot: string; allowOutside: boolean; manifestName: string },
): Promise<{ rule: string; message: string; hint: string } | undefined> {
  const real = await realPathOf(outDir, { followLast: true })
  if (!isInside(options.realRoot, real)) {
    if (options.allowOutside) return undefined
    return {
      rule: 'out/outside-project',
      message: `leads outside the project folder (really ${real}, through a symbolic link)`,
      hint: 'Make `out` a real folder inside the project (remove the link), or set `security.allowOutsideProject: true` if writing outside is intended.',
    }
  }
  const inside = relative(options.realRoot, real)
  const reason = inside === '' ? undefined : reservedReason(join(inside, 'output'), options.manifestName)
  if (!reason) return undefined
  return {
    rule: 'out/reserved',
    message: `is a folder images-edit never writes outputs into (${reason.replace(/^it is /, '')})`,
    hint: 'Use a folder of its own for outputs, e.g. `out: generated`.',
  }
}

/**
 * Every output path, where it really leads (symlinked folders resolved): inside the project, and
 * not a file images-edit keeps (lock, manifest, `.env`, `.images-edit/`…). One diagnostic per
 * recipe and problem, at its `name`; the drafts concerned never become jobs.
 */
export async function checkOutputPaths(
  planned: Planned[],
  context: ExpandContext,
  diagnostics: Diagnostic[],
  options: Omit<PathCheckOptions, 'write'>,
): Promise<void> {
  const { source, root, outDir } = context
  const outRelative = posix.relative(root.split('\\').join('/'), outDir.split('\\').join('/')) || '.'
  const reported = new Set<string>()
  await Promise.all(
    planned.map(async (item) => {
      const { draft } = item
      for (const output of item.outputs ?? []) {
        // Names climbing out of `out` get their own diagnostic (checkOutputNames).
        if (posix.relative(outRelative, output).startsWith('..')) continue
        const check = await checkProjectPath(root, output, { ...options, write: true })
        if (check.ok) continue
        item.bad = true
        item.refused = true
        const key = `${draft.recipe}:${check.kind}`
        if (reported.has(key)) continue
        reported.add(key)
        diagnostics.push(
          source.diagnostic(
            'error',
            check.kind === 'reserved' ? 'name/reserved' : 'name/outside-project',
            draft.named ? [...draft.docPath, 'name'] : draft.docPath,
            `${check.reason}${draft.eachFile ? ` (for ${draft.eachFile})` : ''}`,
            check.kind === 'reserved'
              ? 'Give the output another name; images-edit never writes over its own files, the manifest, .env, or into .git/ or node_modules/.'
              : 'Make the folder under `out` a real folder (remove the symbolic link), or set `security.allowOutsideProject: true` if writing outside is intended.',
            { target: draft.named ? 'value' : 'key' },
          ),
        )
      }
    }),
  )
}

/**
 * Output names must stay inside `out`, be unique, and carry {index} when n > 1. Names built with
 * stand-ins are compared only where the stand-in cannot make a difference ({@link Planned.comparable}).
 */
export function checkOutputNames(planned: Planned[], context: ExpandContext, diagnostics: Diagnostic[]): void {
  const { source, root, outDir } = context
  const outRelative = posix.relative(root.split('\\').join('/'), outDir.split('\\').join('/')) || '.'
  const owners = new Map<string, string>()
  const bad = new Set<string>()
  for (const item of planned) {
    const { draft } = item
    const namePath: DocPath = draft.named ? [...draft.docPath, 'name'] : draft.docPath
    const target = draft.named ? 'value' : 'key'
    for (const output of item.outputs ?? []) {
      const inside = posix.relative(outRelative, output)
      if (inside === '' || inside.startsWith('..') || posix.isAbsolute(inside) || (draft.named && posix.isAbsolute(draft.namePattern ?? ''))) {
        if (!bad.has(draft.recipe)) {
          bad.add(draft.recipe)
          diagnostics.push(
            source.diagnostic(
              'error',
              'name/outside-out',
              namePath,
              `output name resolves to ${output}, outside the output folder ${outRelative}`,
              'Names are relative to `out`; remove leading "/" and "..".',
              { target },
            ),
          )
        }
        continue
      }
      // A name already refused is to be changed anyway: that it also collides is no news.
      if (item.comparable === 'none' || item.refused) continue
      const lower = item.comparable === 'recipe' ? `${draft.recipe}\u0000${output.toLowerCase()}` : output.toLowerCase()
      const owner = owners.get(lower)
      if (owner !== undefined && owner !== draft.id) {
        const key = `${draft.recipe}:${owner}`
        if (!bad.has(key)) {
          bad.add(key)
          diagnostics.push(
            source.diagnostic(
              'error',
              'name/duplicate',
              namePath,
              `output ${output} is produced by both ${owner} and ${draft.id}`,
              draft.recipe === owner.split('/')[0] && draft.eachFile !== undefined
                ? 'Use {stem} or {file} in `name` so each fan-out file gets its own output.'
                : 'Give the recipes different names (`name:`), or add {recipe}.',
              { target },
            ),
          )
        }
      } else if (owner === draft.id) {
        const key = `${draft.recipe}:index`
        if (!bad.has(key)) {
          bad.add(key)
          diagnostics.push(
            source.diagnostic(
              'error',
              'name/missing-index',
              namePath,
              `n is ${draft.n} but \`name\` has no {index}, so all ${draft.n} images would be written to ${output}`,
              'Add {index} to the name, e.g. `name: {recipe}-{index}.{ext}`.',
              { target },
            ),
          )
        }
      } else {
        owners.set(lower, draft.id)
      }
    }
  }
  if (bad.size > 0) {
    const badRecipes = new Set([...bad].map((entry) => entry.split(':')[0]))
    for (const item of planned) if (badRecipes.has(item.draft.recipe)) item.bad = true
  }
}
