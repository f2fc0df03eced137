import { realpath } from 'node:fs/promises'
import { basename, dirname, join, posix, relative, resolve } from 'node:path'
import { glob } from 'tinyglobby'
import type { Diagnostic } from '../diagnostics.js'
import { ImagesEditError } from '../errors.js'
import { checkProjectPath, type PathCheckOptions, readBounded, readCacheText, realFolderMemo, realPathOf, reservedReason } from '../fs/project-fs.js'
import { sha256 } from '../hash/content-hash.js'
import type { FileIndex } from '../hash/file-index.js'
import { computeJobKey } from '../plan/job-key.js'
import { capabilitiesOf, DEFAULT_PROVIDER, defaultModels } from '../providers/capabilities.js'
import type { ProviderId } from '../providers/provider.js'
import { writeFileAtomic } from '../store/atomic-write.js'
import type { Job, JobInput, JobParams } from './job.js'
import { lazyManifestSource, parseManifestText } from './parse-manifest.js'
import { checkJob, isInside, type JobDraft } from './rules.js'
import type { DocPath, ManifestSource } from './source.js'
import { KNOWN_TOKENS, substitute, type TokenValues } from './template.js'
import { DEFAULT_CONCURRENCY, DEFAULT_OUT, type Manifest, type Recipe, type RecipeParameters } from './types.js'
import { schemaFingerprint, validateSchema } from './validate-schema.js'

/** Options of {@link loadManifest}. */
export interface LoadOptions {
  /** Where manifests that passed YAML and schema checks are remembered by content hash. */
  parseCachePath?: string
  /** Hashes and image headers, cached by file identity. */
  fileIndex: FileIndex
  /** Run every recipe on this provider instead (`--provider local`). */
  providerOverride?: ProviderId
}

/** A manifest read, validated and expanded into jobs. */
export interface LoadedManifest {
  /** Absolute path of the manifest. */
  file: string
  /** Folder of the manifest: refs, `out`, the lock and the store are relative to it. */
  root: string
  /** The validated manifest, or undefined when it has errors before expansion. */
  manifest?: Manifest
  /** Absolute output folder. */
  outDir: string
  concurrency: number
  jobs: Job[]
  /** Every problem found, errors and warnings, in manifest order. */
  diagnostics: Diagnostic[]
  source: ManifestSource
}

const BUILT_IN_DEFAULTS = { ratio: '1:1', resolution: '1k', quality: 'high', format: 'png', n: 1 } as const

/**
 * Reads, validates (YAML, JSON Schema, rules) and expands a manifest into jobs with their keys.
 * Never throws for a bad manifest: every problem is a located diagnostic. Throws only when the
 * file cannot be read at all.
 */
export async function loadManifest(file: string, options: LoadOptions): Promise<LoadedManifest> {
  const absolute = resolve(file)
  const root = dirname(absolute)
  // Bounded, and only a regular file: a manifest linked to /dev/zero must not fill the memory.
  const raw = await readBounded(absolute, 'manifest', { missingOk: true, prefix: true })
  if (raw === undefined) {
    throw new ImagesEditError('MANIFEST_NOT_FOUND', `${file} does not exist. Run \`images-edit init\` to create one, or pass --manifest <path>.`)
  }

  // Layers 1 and 2 depend on the text alone: a manifest that passed them before (same bytes) is
  // taken from the parse cache, skipping the YAML parser and ajv on every unchanged run.
  const textHash = sha256(`${schemaFingerprint()}\u0000${raw.toString('binary')}`)
  const cached = options.parseCachePath ? await readParseCache(options.parseCachePath, textHash) : undefined
  const parsed = cached ? { source: lazyManifestSource(absolute, raw), value: cached, diagnostics: [] } : parseManifestText(absolute, raw)
  const { source } = parsed
  const diagnostics = [...parsed.diagnostics]
  const empty = { file: absolute, root, outDir: join(root, DEFAULT_OUT), concurrency: DEFAULT_CONCURRENCY, jobs: [], source }
  if (parsed.value === undefined) return { ...empty, diagnostics: sortDiagnostics(diagnostics) }
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    diagnostics.push(source.diagnostic('error', 'schema/type', [], 'the manifest must be a map with `version` and `recipes`', 'Start from `images-edit init`.'))
    return { ...empty, diagnostics }
  }

  const schemaProblems = cached ? [] : await validateSchema(parsed.value, source)
  diagnostics.push(...schemaProblems)
  if (!cached && options.parseCachePath && diagnostics.length === 0) await writeParseCache(options.parseCachePath, textHash, parsed.value)
  const manifest = parsed.value as Manifest
  // Rules run on every recipe the schema accepted, so one bad recipe does not hide another's
  // missing file. A problem outside `recipes` leaves nothing sound to expand.
  const brokenRecipes = new Set<string>()
  let sound = true
  const owners = schemaProblems.length > 0 ? validateSchemaPaths(parsed.value, schemaProblems, source) : []
  schemaProblems.forEach((problem, index) => {
    // An unknown field is ignored by expansion, so the recipe's other problems can still be found.
    if (problem.rule === 'schema/unknown-field') return
    const owner = owners[index]
    if (owner === undefined) sound = false
    else brokenRecipes.add(owner)
  })
  if (!sound || !manifest.recipes || typeof manifest.recipes !== 'object') return { ...empty, manifest, diagnostics: sortDiagnostics(dedupe(diagnostics)) }

  // Backslashes separate folders in `out` as they do in names, so outputs and `outDir` agree.
  const outDir = resolve(root, (manifest.out ?? DEFAULT_OUT).split('\\').join('/'))
  const context: ExpandContext = {
    manifest,
    root,
    outDir,
    source,
    options,
    diagnostics,
    vars: manifest.vars ?? {},
  }
  const security = { allowOutsideProject: manifest.security?.allowOutsideProject === true, allowLoopbackHttp: manifest.security?.allowLoopbackHttp === true }
  const realRoot = await realpath(root).catch(() => root)
  // One realpath per file, however many recipes use it.
  const realpaths = new Map<string, Promise<string>>()
  const resolved = new Map<string, Promise<JobInput | undefined>>()
  if (!security.allowOutsideProject && !isInside(root, outDir)) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'out/outside-project',
        ['out'],
        `\`out: ${manifest.out}\` is outside the project folder ${root}`,
        'Use a folder inside the project, or set `security.allowOutsideProject: true` if writing outside is intended.',
      ),
    )
    return { ...empty, manifest, diagnostics: sortDiagnostics(dedupe(diagnostics)) }
  }
  const manifestName = basename(absolute)
  const outProblem = await checkOutFolder(outDir, { realRoot, allowOutside: security.allowOutsideProject, manifestName })
  if (outProblem) {
    diagnostics.push(source.diagnostic('error', outProblem.rule, ['out'], `\`out: ${manifest.out ?? DEFAULT_OUT}\` ${outProblem.message}`, outProblem.hint))
    return { ...empty, manifest, diagnostics: sortDiagnostics(dedupe(diagnostics)) }
  }
  const drafts: JobDraft[] = []
  for (const [recipeId, recipe] of Object.entries(manifest.recipes)) {
    if (brokenRecipes.has(recipeId)) continue
    drafts.push(...(await expandRecipe(recipeId, recipe, context)))
  }
  const jobs: Job[] = []
  await Promise.all(
    drafts.map(async (draft) => {
      const ok = await checkJob(draft, {
        source,
        fileIndex: options.fileIndex,
        diagnostics: context.diagnostics,
        root,
        realRoot,
        security,
        realpaths,
        resolved,
      })
      const job = ok && !draft.broken ? finishJob(draft, context) : undefined
      if (job) jobs.push(job)
    }),
  )
  jobs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  await checkOutputPaths(jobs, context, { realRoot, allowOutside: security.allowOutsideProject, manifestName, realFolder: realFolderMemo() })
  checkOutputNames(jobs, context)

  return {
    file: absolute,
    root,
    manifest,
    outDir,
    concurrency: manifest.concurrency ?? DEFAULT_CONCURRENCY,
    jobs,
    diagnostics: limit(sortDiagnostics(dedupe(diagnostics)), source),
    source,
  }
}

interface ExpandContext {
  manifest: Manifest
  root: string
  outDir: string
  source: ManifestSource
  options: LoadOptions
  diagnostics: Diagnostic[]
  vars: Readonly<Record<string, string | number>>
}

/**
 * Maps schema diagnostics back to the recipe they are in (`undefined` = outside any recipe).
 * Uses positions rather than re-deriving ajv paths: a diagnostic inside a recipe's block belongs to it.
 */
function validateSchemaPaths(value: object, problems: Diagnostic[], source: ManifestSource): (string | undefined)[] {
  const recipes = (value as { recipes?: unknown }).recipes
  if (!recipes || typeof recipes !== 'object' || Array.isArray(recipes)) return problems.map(() => undefined)
  const ranges = Object.keys(recipes).map((id) => {
    const start = source.span(['recipes', id], 'key').offset
    return { id, start }
  })
  ranges.sort((a, b) => a.start - b.start)
  const recipesStart = source.span(['recipes'], 'key').offset
  return problems.map((problem) => {
    const offset = offsetOf(source, problem.line, problem.column)
    if (offset <= recipesStart) return undefined
    let owner: string | undefined
    for (const range of ranges) if (range.start <= offset) owner = range.id
    return owner
  })
}

function offsetOf(source: ManifestSource, line: number, column: number): number {
  // From the line starts, not the line lengths: a line may end in \r\n (two characters).
  return (source.lineCounter.lineStarts[line - 1] ?? 0) + column - 1
}

/** Where a recipe's effective parameter was set: the recipe, `defaults`, or nowhere (built-in). */
function whereSet(manifest: Manifest, recipeId: string, field: keyof RecipeParameters): DocPath {
  if (manifest.recipes[recipeId]?.[field] !== undefined) return ['recipes', recipeId, field]
  if (manifest.defaults?.[field] !== undefined) return ['defaults', field]
  return ['recipes', recipeId]
}

async function expandRecipe(recipeId: string, recipe: Recipe, context: ExpandContext): Promise<JobDraft[]> {
  const { manifest, source, diagnostics } = context
  const recipePath: DocPath = ['recipes', recipeId]
  const merged = { ...BUILT_IN_DEFAULTS, ...manifest.defaults, ...recipe }
  const provider: ProviderId = context.options.providerOverride ?? recipe.provider ?? manifest.defaults?.provider ?? DEFAULT_PROVIDER
  const overridden =
    context.options.providerOverride !== undefined && context.options.providerOverride !== (recipe.provider ?? manifest.defaults?.provider ?? DEFAULT_PROVIDER)
  // A model belongs to its provider: an override to another provider takes that provider's default.
  const model = overridden ? defaultModels[provider] : (recipe.model ?? manifest.defaults?.model ?? defaultModels[provider])
  const params: JobParams = {
    ratio: merged.ratio,
    resolution: merged.resolution,
    quality: merged.quality,
    format: merged.format,
    ...(merged.compression !== undefined ? { compression: merged.compression } : {}),
    ...(merged.background !== undefined ? { background: merged.background } : {}),
    ...(merged.inputFidelity !== undefined ? { inputFidelity: merged.inputFidelity } : {}),
    ...(merged.moderation !== undefined ? { moderation: merged.moderation } : {}),
  }

  const report = (path: DocPath, problems: { token: string; kind: string }[], place: string) => {
    for (const problem of problems) {
      const varNames = Object.keys(context.vars)
      diagnostics.push(
        source.diagnostic(
          'error',
          problem.kind === 'unknown-var' ? 'tokens/unknown-var' : problem.kind === 'unavailable' ? 'tokens/unavailable' : 'tokens/unknown',
          path,
          problem.kind === 'unknown-var'
            ? `${problem.token} is not defined in \`vars\``
            : problem.kind === 'unavailable'
              ? `${problem.token} cannot be used in ${place}`
              : `unknown token ${problem.token}`,
          problem.kind === 'unknown-var'
            ? varNames.length > 0
              ? `Defined vars: ${varNames.map((name) => `{vars.${name}}`).join(', ')}.`
              : 'Add it under `vars:` at the top of the manifest.'
            : tokenHint(place, recipe.each !== undefined),
          { substring: problem.token },
        ),
      )
    }
  }

  let matches: (string | undefined)[] = [undefined]
  let globBase = ''
  if (recipe.each !== undefined) {
    const pattern = substitute(recipe.each, { recipe: recipeId }, context.vars, KNOWN_TOKENS)
    report([...recipePath, 'each'], pattern.problems, '`each`')
    if (pattern.problems.length > 0) return []
    globBase = staticBase(pattern.value)
    // Symlinked folders are not followed: a link out of the project must not widen a glob.
    const files = await glob(pattern.value, { cwd: context.root, onlyFiles: true, expandDirectories: false, followSymbolicLinks: false })
    if (files.length === 0) {
      diagnostics.push(
        source.diagnostic(
          'error',
          'each/no-match',
          [...recipePath, 'each'],
          `\`each: ${pattern.value}\` matches no file`,
          'Check the pattern; it is relative to the manifest folder (e.g. refs/products/*.jpg).',
        ),
      )
      return []
    }
    matches = files.map((file) => file.split('\\').join('/')).sort()
  }

  const drafts: JobDraft[] = []
  for (const match of matches) {
    const tokens: TokenValues = { recipe: recipeId }
    if (match !== undefined) {
      const inBase = globBase && match.startsWith(`${globBase}/`) ? match.slice(globBase.length + 1) : match
      const extension = posix.extname(match)
      tokens.file = match
      tokens.stem = posix.basename(match, extension)
      tokens.dir = posix.dirname(inBase) === '.' ? '' : posix.dirname(inBase)
    }
    const prompt = substitute(recipe.prompt, tokens, context.vars, KNOWN_TOKENS)
    report([...recipePath, 'prompt'], prompt.problems, 'a prompt')
    const refs = recipe.refs.map((ref, index) => {
      const result = substitute(ref, tokens, context.vars, KNOWN_TOKENS)
      report([...recipePath, 'refs', index], result.problems, 'a ref path')
      return result
    })
    const mask = recipe.mask === undefined ? undefined : substitute(recipe.mask, tokens, context.vars, KNOWN_TOKENS)
    if (mask) report([...recipePath, 'mask'], mask.problems, 'a mask path')
    if (refs.reduce((sum, ref) => sum + ref.problems.length, 0) + (mask?.problems.length ?? 0) > 0) {
      // Inputs with unresolved tokens cannot be checked; reported once per recipe.
      return drafts
    }
    const id = match === undefined ? recipeId : `${recipeId}/${globBase && match.startsWith(`${globBase}/`) ? match.slice(globBase.length + 1) : match}`
    drafts.push({
      id,
      recipe: recipeId,
      ...(match !== undefined ? { eachFile: match } : {}),
      provider,
      model,
      prompt: prompt.value,
      params,
      ...(merged.seed !== undefined ? { seed: merged.seed } : {}),
      n: merged.n,
      refs: refs.map((ref) => ref.value),
      ...(mask ? { mask: mask.value } : {}),
      nameTokens: tokens,
      docPath: recipePath,
      where: (field) => whereSet(manifest, recipeId, field),
      capabilities: capabilitiesOf(provider, model),
      resolvedRefs: [],
      // A bad prompt still lets the rules check the recipe's inputs and parameters.
      broken: prompt.problems.length > 0,
    })
  }
  return drafts
}

function tokenHint(place: string, hasEach: boolean): string {
  if (place === '`each`') return 'Only {recipe} and {vars.name} can be used in `each`.'
  if (!hasEach) return `Tokens here: {recipe}, {vars.name}; {file}, {stem} and {dir} need \`each\`. Write {{ and }} for literal braces.`
  return 'Tokens here: {recipe}, {file}, {stem}, {dir}, {vars.name}. Write {{ and }} for literal braces.'
}

/** The folder part of a glob before its first wildcard: `refs/products/*.jpg` → `refs/products`. */
function staticBase(pattern: string): string {
  const segments = pattern.split('/')
  const fixed: string[] = []
  for (const segment of segments.slice(0, -1)) {
    if (/[*?[\]{}()!+@]/.test(segment)) break
    fixed.push(segment)
  }
  return fixed.join('/')
}

const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp' } as const

/** The finished job, or undefined when its output name has a token error (reported here). */
function finishJob(draft: JobDraft, context: ExpandContext): Job | undefined {
  const refs: JobInput[] = draft.resolvedRefs
  const key = computeJobKey({
    provider: draft.provider,
    model: draft.model,
    prompt: draft.prompt,
    params: draft.params,
    refs: refs.map(keyPart),
    ...(draft.resolvedMask ? { mask: keyPart(draft.resolvedMask) } : {}),
    ...(draft.seed !== undefined ? { seed: draft.seed } : {}),
  })
  const recipe = context.manifest.recipes[draft.recipe] as Recipe
  const pattern = recipe.name ?? defaultName(draft)
  const outputs: string[] = []
  let badName = false
  for (let index = 1; index <= draft.n; index++) {
    const tokens: TokenValues = { ...draft.nameTokens, index: String(index), ext: EXTENSIONS[draft.params.format], hash: key.slice(0, 10) }
    const name = substitute(pattern, tokens, context.vars, KNOWN_TOKENS)
    if (name.problems.length > 0) badName = true
    if (name.problems.length > 0 && index === 1) {
      for (const problem of name.problems) {
        context.diagnostics.push(
          context.source.diagnostic(
            'error',
            problem.kind === 'unknown-var' ? 'tokens/unknown-var' : problem.kind === 'unavailable' ? 'tokens/unavailable' : 'tokens/unknown',
            [...draft.docPath, 'name'],
            problem.kind === 'unavailable' ? `${problem.token} cannot be used in this recipe's name` : `unknown token ${problem.token} in \`name\``,
            'Name tokens: {recipe} {index} {ext} {hash} {vars.name}, and {file} {stem} {dir} with `each`.',
            { substring: problem.token },
          ),
        )
      }
    }
    const normalized = posix.normalize(name.value.split('\\').join('/')).replace(/^(\.\/)+/, '')
    outputs.push(posix.join(posix.relative(context.root.split('\\').join('/'), context.outDir.split('\\').join('/')) || '.', normalized))
  }
  if (badName) return undefined
  const size = draft.params.ratio === 'auto' ? undefined : draft.capabilities.sizes[draft.params.ratio]?.[draft.params.resolution]
  return {
    id: draft.id,
    recipe: draft.recipe,
    ...(draft.eachFile !== undefined ? { eachFile: draft.eachFile } : {}),
    key,
    provider: draft.provider,
    model: draft.model,
    paid: draft.capabilities.paid,
    prompt: draft.prompt,
    params: draft.params,
    ...(draft.seed !== undefined ? { seed: draft.seed } : {}),
    n: draft.n,
    ...(size ? { size } : {}),
    refs,
    ...(draft.resolvedMask ? { mask: draft.resolvedMask } : {}),
    outputs,
    docPath: draft.docPath,
  }
}

function keyPart(input: JobInput): string {
  return input.input.kind === 'file' ? input.input.sha256 : `url:${input.input.url}`
}

function defaultName(draft: JobDraft): string {
  if (draft.eachFile !== undefined) return draft.n === 1 ? '{recipe}/{dir}/{stem}.{ext}' : '{recipe}/{dir}/{stem}-{index}.{ext}'
  return draft.n === 1 ? '{recipe}.{ext}' : '{recipe}-{index}.{ext}'
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
 * recipe and problem, at its `name`; the jobs concerned are dropped.
 */
async function checkOutputPaths(jobs: Job[], context: ExpandContext, options: Omit<PathCheckOptions, 'write'>): Promise<void> {
  const { source, diagnostics, root, outDir } = context
  const outRelative = posix.relative(root.split('\\').join('/'), outDir.split('\\').join('/')) || '.'
  const reported = new Set<string>()
  const bad = new Set<Job>()
  await Promise.all(
    jobs.map(async (job) => {
      for (const output of job.outputs) {
        // Names climbing out of `out` get their own diagnostic (checkOutputNames).
        if (posix.relative(outRelative, output).startsWith('..')) continue
        const check = await checkProjectPath(root, output, { ...options, write: true })
        if (check.ok) continue
        bad.add(job)
        const key = `${job.recipe}:${check.kind}`
        if (reported.has(key)) continue
        reported.add(key)
        const recipe = context.manifest.recipes[job.recipe] as Recipe
        const named = recipe.name !== undefined
        diagnostics.push(
          source.diagnostic(
            'error',
            check.kind === 'reserved' ? 'name/reserved' : 'name/outside-project',
            named ? [...job.docPath, 'name'] : job.docPath,
            `${check.reason}${job.eachFile ? ` (for ${job.eachFile})` : ''}`,
            check.kind === 'reserved'
              ? 'Give the output another name; images-edit never writes over its own files, the manifest, .env, or into .git/ or node_modules/.'
              : 'Make the folder under `out` a real folder (remove the symbolic link), or set `security.allowOutsideProject: true` if writing outside is intended.',
            { target: named ? 'value' : 'key' },
          ),
        )
      }
    }),
  )
  for (let index = jobs.length - 1; index >= 0; index--) if (bad.has(jobs[index] as Job)) jobs.splice(index, 1)
}

/** Output names must be unique, carry {index} when n > 1, and stay inside `out`. */
function checkOutputNames(jobs: Job[], context: ExpandContext): void {
  const { source, diagnostics, root, outDir } = context
  const outRelative = posix.relative(root.split('\\').join('/'), outDir.split('\\').join('/')) || '.'
  const owners = new Map<string, string>()
  const bad = new Set<string>()
  for (const job of jobs) {
    const recipe = context.manifest.recipes[job.recipe] as Recipe
    const namePath: DocPath = recipe.name !== undefined ? [...job.docPath, 'name'] : job.docPath
    const target = recipe.name !== undefined ? 'value' : 'key'
    for (const output of job.outputs) {
      const inside = posix.relative(outRelative, output)
      if (inside === '' || inside.startsWith('..') || posix.isAbsolute(inside) || posix.isAbsolute(recipe.name ?? '')) {
        if (!bad.has(job.recipe)) {
          bad.add(job.recipe)
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
      const lower = output.toLowerCase()
      const owner = owners.get(lower)
      if (owner !== undefined && owner !== job.id) {
        const key = `${job.recipe}:${owner}`
        if (!bad.has(key)) {
          bad.add(key)
          diagnostics.push(
            source.diagnostic(
              'error',
              'name/duplicate',
              namePath,
              `output ${output} is produced by both ${owner} and ${job.id}`,
              job.recipe === owner.split('/')[0] && recipe.each !== undefined
                ? 'Use {stem} or {file} in `name` so each fan-out file gets its own output.'
                : 'Give the recipes different names (`name:`), or add {recipe}.',
              { target },
            ),
          )
        }
      } else if (owner === job.id) {
        const key = `${job.recipe}:index`
        if (!bad.has(key)) {
          bad.add(key)
          diagnostics.push(
            source.diagnostic(
              'error',
              'name/missing-index',
              namePath,
              `n is ${job.n} but \`name\` has no {index}, so all ${job.n} images would be written to ${output}`,
              'Add {index} to the name, e.g. `name: {recipe}-{index}.{ext}`.',
              { target },
            ),
          )
        }
      } else {
        owners.set(lower, job.id)
      }
    }
  }
  if (bad.size > 0) {
    const badRecipes = new Set([...bad].map((entry) => entry.split(':')[0]))
    for (let index = jobs.length - 1; index >= 0; index--) if (badRecipes.has((jobs[index] as Job).recipe)) jobs.splice(index, 1)
  }
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

const PARSE_CACHE_VERSION = 1

async function readParseCache(path: string, textHash: string): Promise<unknown> {
  try {
    const cache = JSON.parse((await readCacheText(path)) ?? '') as { version?: number; sha256?: string; value?: unknown }
    return cache.version === PARSE_CACHE_VERSION && cache.sha256 === textHash ? cache.value : undefined
  } catch {
    return undefined
  }
}

async function writeParseCache(path: string, textHash: string, value: unknown): Promise<void> {
  // A cache: failing to write it only costs speed next time.
  await writeFileAtomic(path, JSON.stringify({ version: PARSE_CACHE_VERSION, sha256: textHash, value })).catch(() => {})
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
