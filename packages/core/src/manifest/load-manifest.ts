import { realpath } from 'node:fs/promises'
import { basename, dirname, join, posix, relative, resolve } from 'node:path'
import { glob } from 'tinyglobby'
import { globBase } from '../fs/glob-base.js'
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
import { checkCapabilities, checkJob, isInside, type JobDraft } from './rules.js'
import type { DocPath, ManifestSource } from './source.js'
import { KNOWN_TOKENS, type OpenTokens, substitute, type TokenProblem, type TokenValues, tokensIn } from './template.js'
import { DEFAULT_CONCURRENCY, DEFAULT_OUT, type Manifest, type Recipe, type RecipeParameters } from './types.js'
import { SchemaFindings, schemaFingerprint, validateSchema } from './validate-schema.js'

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

/** Stand-in for {hash} in the name of a job whose key cannot be computed (it has errors). */
const HASH_STAND_IN = '0000000000'

/** Refs checked in a list that has too many anyway (it must be shortened; thousands are not read). */
const MAX_CHECKED_REFS = 64

/**
 * Reads, validates (YAML, JSON Schema, rules) and expands a manifest into jobs with their keys.
 * Never throws for a bad manifest: every problem is a located diagnostic. Throws only when the
 * file cannot be read at all.
 *
 * Every independent problem is reported in one pass. A problem hides only what depends on it: a
 * value with a schema error is unknown to the rules, so the checks that need that value are
 * skipped and every other check still runs (a bad `n` hides neither a missing mask nor a name
 * outside `out`; a bad `out` hides no recipe problem). Only a YAML syntax error, which leaves no
 * value at all, stops everything after it.
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
  const done = () => limit(sortDiagnostics(dedupe(diagnostics)), source)
  if (parsed.value === undefined) return { ...empty, diagnostics: done() }
  if (!isMap(parsed.value)) {
    diagnostics.push(source.diagnostic('error', 'schema/type', [], 'the manifest must be a map with `version` and `recipes`', 'Start from `images-edit init`.'))
    return { ...empty, diagnostics: done() }
  }

  const schema = cached ? { diagnostics: [], findings: new SchemaFindings(), truncated: false } : await validateSchema(parsed.value, source)
  diagnostics.push(...schema.diagnostics)
  if (!cached && options.parseCachePath && diagnostics.length === 0) await writeParseCache(options.parseCachePath, textHash, parsed.value)
  const manifest = parsed.value as unknown as Manifest
  // Past the cap the rules' findings would be cut from the report anyway.
  if (schema.truncated) return { ...empty, manifest, diagnostics: done() }
  const { findings } = schema
  // A YAML or schema error outside the recipes, or an unusable `out`: every rule still runs, but
  // nothing is built. An error inside a recipe only keeps that recipe from becoming jobs.
  let buildable = !findings.manifestLevel && !parsed.diagnostics.some((item) => item.severity === 'error')

  // A security setting with a schema error is taken as permissive for checking, so no problem
  // that depends on it is reported (and nothing is built: it is a manifest-level error).
  const securityValue = isMap(manifest.security) ? manifest.security : {}
  const security = {
    allowOutsideProject: securityValue.allowOutsideProject === true || findings.isInvalid(['security', 'allowOutsideProject']),
    allowLoopbackHttp: securityValue.allowLoopbackHttp === true || findings.isInvalid(['security', 'allowLoopbackHttp']),
  }

  // Backslashes separate folders in `out` as they do in names, so outputs and `outDir` agree.
  const outKnown = !findings.isInvalid(['out']) && (manifest.out === undefined || typeof manifest.out === 'string')
  const outText = outKnown && typeof manifest.out === 'string' ? manifest.out : DEFAULT_OUT
  const outDir = resolve(root, outText.split('\\').join('/'))
  const realRoot = await realpath(root).catch(() => root)
  const manifestName = basename(absolute)
  // Output paths are checked where they really lead only when `out` itself is sound.
  let outSound = outKnown
  if (outKnown) {
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
      outSound = false
    } else {
      const outProblem = await checkOutFolder(outDir, { realRoot, allowOutside: security.allowOutsideProject, manifestName })
      if (outProblem) {
        diagnostics.push(source.diagnostic('error', outProblem.rule, ['out'], `\`out: ${manifest.out ?? DEFAULT_OUT}\` ${outProblem.message}`, outProblem.hint))
        outSound = false
      }
    }
  }
  if (!outSound) buildable = false

  // Vars with a schema error are defined but unknown: a token naming one is no error of its own.
  const vars: Record<string, string | number> = {}
  let unknownVars: Set<string> | 'all' = new Set()
  if (manifest.vars !== undefined) {
    if (findings.isInvalid(['vars']) || !isMap(manifest.vars)) unknownVars = 'all'
    else {
      for (const [name, value] of Object.entries(manifest.vars)) {
        const bad = findings.isInvalid(['vars', name]) || findings.isKeyInvalid(['vars', name]) || (typeof value !== 'string' && typeof value !== 'number')
        if (bad) unknownVars.add(name)
        else vars[name] = value
      }
    }
  }
  const defaultsUnknown = manifest.defaults !== undefined && (findings.isInvalid(['defaults']) || !isMap(manifest.defaults))
  const context: ExpandContext = {
    root,
    outDir,
    source,
    options,
    findings,
    vars,
    unknownVars,
    defaults: !defaultsUnknown && isMap(manifest.defaults) ? (manifest.defaults as RecipeParameters) : {},
    defaultsUnknown,
  }

  const drafts: Draft[] = []
  const soundRecipes = new Set<string>()
  const recipes: unknown = manifest.recipes
  if (isMap(recipes) && !findings.isInvalid(['recipes'])) {
    for (const [recipeId, recipe] of Object.entries(recipes)) {
      const expanded = await expandRecipe(recipeId, recipe, context, diagnostics)
      drafts.push(...expanded.drafts)
      if (expanded.sound) soundRecipes.add(recipeId)
    }
  }

  // One realpath per file, however many recipes use it.
  const realpaths = new Map<string, Promise<string>>()
  const resolved = new Map<string, Promise<JobInput | undefined>>()
  const planned = await Promise.all(
    drafts.map(async (draft): Promise<Planned> => {
      const ok = await checkJob(draft, { source, fileIndex: options.fileIndex, diagnostics, root, realRoot, security, realpaths, resolved })
      return plan(draft, ok && !draft.broken, context)
    }),
  )
  planned.sort((a, b) => (a.draft.id < b.draft.id ? -1 : a.draft.id > b.draft.id ? 1 : 0))
  if (outSound)
    await checkOutputPaths(planned, context, diagnostics, { realRoot, allowOutside: security.allowOutsideProject, manifestName, realFolder: realFolderMemo() })
  checkOutputNames(planned, context, diagnostics)

  const jobs = buildable ? planned.flatMap((item) => (item.job && !item.bad && soundRecipes.has(item.draft.recipe) ? [item.job] : [])) : []
  return {
    file: absolute,
    root,
    manifest,
    outDir,
    concurrency: typeof manifest.concurrency === 'number' && !findings.isInvalid(['concurrency']) ? manifest.concurrency : DEFAULT_CONCURRENCY,
    jobs,
    diagnostics: done(),
    source,
  }
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

interface ExpandContext {
  root: string
  outDir: string
  source: ManifestSource
  options: LoadOptions
  findings: SchemaFindings
  /** Vars without a schema error. */
  vars: Readonly<Record<string, string | number>>
  /** Vars with one (`all`: `vars` itself is unusable). */
  unknownVars: ReadonlySet<string> | 'all'
  /** `defaults`, when usable; its fields with a schema error are told by `findings`. */
  defaults: RecipeParameters
  /** `defaults` is not a map: every inherited parameter is unknown. */
  defaultsUnknown: boolean
}

/** A draft with what its output names are made of. */
interface Draft extends JobDraft {
  /** The output name pattern (`name`, or the default one), or undefined when `name` has a schema error. */
  namePattern: string | undefined
  /** `name` is set (diagnostics point at it rather than at the recipe). */
  named: boolean
  /** `format` has a schema error: {ext} is built as png, good enough to tell where a name lands. */
  extStandIn: boolean
  /** Tokens and vars whose values are unknown here. */
  open: OpenTokens
}

/** A draft with its output paths and, when it is sound, its job. */
interface Planned {
  draft: Draft
  /** Output paths relative to the manifest folder, or undefined when the name cannot be built. */
  outputs?: string[]
  /**
   * Which other outputs these may be compared with for duplicates: `all`; `recipe` when {ext} is a
   * stand-in (an invalid `format`: the same for the whole recipe); `none` when {hash} is (a job
   * with errors has no key). Where an output lands is checked whatever the stand-ins.
   */
  comparable: 'all' | 'recipe' | 'none'
  job?: Job
  /** An output name problem (reported): never becomes a job. */
  bad: boolean
  /** An output is refused where it really lands (reserved, or out of the project): its name is not compared with others. */
  refused?: boolean
}

/** A value of the manifest as the rules see it: set (and valid), unset, or unknown (a schema error). */
type Known<T> = { value: T } | 'unset' | 'unknown'

const EACH_TOKENS = ['file', 'stem', 'dir'] as const

/**
 * Layer 3 for one recipe: its templates, capabilities and `each` fan-out, each checked on the
 * values that have no schema error of their own. Returns its drafts (one per `each` match, or one
 * standing for the recipe when the matches are unknown) and whether the recipe is free of errors.
 */
async function expandRecipe(recipeId: string, body: unknown, context: ExpandContext, diagnostics: Diagnostic[]): Promise<{ drafts: Draft[]; sound: boolean }> {
  const { source, findings } = context
  const recipePath: DocPath = ['recipes', recipeId]
  if (!isMap(body) || findings.isInvalid(recipePath)) return { drafts: [], sound: false }
  const recipe = body as Partial<Recipe>
  const own: Diagnostic[] = []

  const field = (name: keyof Recipe): Known<unknown> => {
    if (findings.isInvalid([...recipePath, name])) return 'unknown'
    const value = Object.hasOwn(recipe, name) ? recipe[name] : undefined
    return value === undefined ? 'unset' : { value }
  }
  const param = (name: keyof RecipeParameters): Known<unknown> => {
    const mine = field(name)
    if (mine !== 'unset') return mine
    if (context.defaultsUnknown || findings.isInvalid(['defaults', name])) return 'unknown'
    const inherited = Object.hasOwn(context.defaults, name) ? context.defaults[name] : undefined
    return inherited === undefined ? 'unset' : { value: inherited }
  }
  const where = (name: keyof RecipeParameters): DocPath => {
    if (field(name) !== 'unset') return [...recipePath, name]
    if (Object.hasOwn(context.defaults, name) && context.defaults[name] !== undefined) return ['defaults', name]
    return recipePath
  }
  const text = (known: Known<unknown>): string | undefined => (typeof known === 'object' && typeof known.value === 'string' ? known.value : undefined)

  // Provider and model: an override (`--provider local`) wins; a model belongs to its provider,
  // so an override to another provider takes that provider's default.
  const declaredParam = param('provider')
  const declared = declaredParam === 'unset' ? DEFAULT_PROVIDER : isProvider(text(declaredParam)) ? (text(declaredParam) as ProviderId) : undefined
  const override = context.options.providerOverride
  const provider = override ?? declared
  const overridden = override !== undefined && override !== declared
  const modelParam = param('model')
  const model = provider === undefined ? undefined : overridden || modelParam === 'unset' ? defaultModels[provider] : (text(modelParam) ?? undefined)
  const capabilities = provider === undefined ? undefined : capabilitiesOf(provider, model ?? defaultModels[provider])

  // Parameters: each known one, or absent when it has a schema error (`unknown` then lists it).
  const params: Partial<Record<keyof JobParams, unknown>> = {}
  const unknown = new Set<keyof RecipeParameters>()
  for (const name of ['ratio', 'resolution', 'quality', 'format', 'compression', 'background', 'inputFidelity', 'moderation'] as const) {
    const value = param(name)
    if (value === 'unknown') unknown.add(name)
    else if (value === 'unset') {
      if (name in BUILT_IN_DEFAULTS) params[name] = BUILT_IN_DEFAULTS[name as keyof typeof BUILT_IN_DEFAULTS]
    } else params[name] = value.value
  }
  const nParam = param('n')
  const nValue = nParam === 'unset' ? 1 : nParam === 'unknown' ? undefined : nParam.value
  const n = typeof nValue === 'number' && Number.isInteger(nValue) && nValue >= 1 && nValue <= 10 ? nValue : undefined
  const seedParam = param('seed')
  const seedKnown = seedParam !== 'unknown' && (seedParam === 'unset' || typeof seedParam.value === 'string' || typeof seedParam.value === 'number')
  const seed = typeof seedParam === 'object' ? (seedParam.value as string | number) : undefined

  // Refs: the list, and each item on its own (one bad item leaves the others checked).
  const refsPath: DocPath = [...recipePath, 'refs']
  const refsField = field('refs')
  const refList = typeof refsField === 'object' && Array.isArray(refsField.value) ? (refsField.value as unknown[]) : undefined
  const countKnown = refList !== undefined && !findings.isCountInvalid(refsPath)
  const refTemplates = (refList ?? [])
    .slice(0, countKnown ? undefined : MAX_CHECKED_REFS)
    .map((item, index) => (typeof item === 'string' && !findings.isInvalid([...refsPath, index]) ? item : undefined))
  const promptTemplate = text(field('prompt'))
  const maskField = field('mask')
  const maskTemplate = text(maskField)
  const eachField = field('each')
  const eachTemplate = text(eachField)
  const hasEach = eachField !== 'unset'
  const nameField = field('name')
  const named = nameField !== 'unset'
  const idKnown = !findings.isKeyInvalid(recipePath)

  checkCapabilities(
    {
      docPath: recipePath,
      ...(provider ? { provider } : {}),
      ...(model ? { model } : {}),
      ...(capabilities ? { capabilities } : {}),
      params: params as Partial<JobParams>,
      ...(countKnown ? { refCount: refList.length } : {}),
      hasMask: maskTemplate !== undefined,
      where,
    },
    { source, diagnostics: own },
  )

  // Templates, checked once for the tokens usable where they are (values do not matter here).
  const inputTokens = new Set<string>(['recipe', ...(hasEach ? EACH_TOKENS : [])])
  const check = (template: string | undefined, path: DocPath, place: string, usable: ReadonlySet<string>) => {
    if (template === undefined) return
    const result = substitute(template, {}, context.vars, KNOWN_TOKENS, { tokens: usable, vars: context.unknownVars })
    for (const problem of result.problems) own.push(tokenDiagnostic(problem, path, place, hasEach, context))
  }
  check(eachTemplate, [...recipePath, 'each'], '`each`', new Set(['recipe']))
  check(promptTemplate, [...recipePath, 'prompt'], 'a prompt', inputTokens)
  for (const [index, ref] of refTemplates.entries()) check(ref, [...refsPath, index], 'a ref path', inputTokens)
  check(maskTemplate, [...recipePath, 'mask'], 'a mask path', inputTokens)
  const namePattern = named ? text(nameField) : defaultName(hasEach, n ?? 1)
  if (named) check(namePattern, [...recipePath, 'name'], '`name`', new Set([...inputTokens, 'index', 'ext', 'hash']))

  // The `each` matches; unknown (undefined) when the glob has an error of its own or matches nothing.
  const values: TokenValues = idKnown ? { recipe: recipeId } : {}
  const open: OpenTokens = { tokens: new Set(idKnown ? [] : ['recipe']), vars: context.unknownVars }
  let matches: (string | undefined)[] | undefined = hasEach ? undefined : [undefined]
  let eachBase = ''
  if (eachTemplate !== undefined) {
    const pattern = substitute(eachTemplate, values, context.vars, KNOWN_TOKENS, open)
    if (pattern.problems.length === 0 && !pattern.uncertain) {
      eachBase = globBase(pattern.value)
      // Symlinked folders are not followed: a link out of the project must not widen a glob.
      const files = await glob(pattern.value, { cwd: context.root, onlyFiles: true, expandDirectories: false, followSymbolicLinks: false })
      if (files.length === 0) {
        own.push(
          source.diagnostic(
            'error',
            'each/no-match',
            [...recipePath, 'each'],
            `\`each: ${pattern.value}\` matches no file`,
            'Check the pattern; it is relative to the manifest folder (e.g. refs/products/*.jpg).',
          ),
        )
      } else matches = files.map((file) => file.split('\\').join('/')).sort()
    }
  }

  diagnostics.push(...own)
  const sound = !findings.recipes.has(recipeId) && !own.some((item) => item.severity === 'error')
  const complete =
    sound &&
    provider !== undefined &&
    model !== undefined &&
    unknown.size === 0 &&
    n !== undefined &&
    seedKnown &&
    promptTemplate !== undefined &&
    countKnown &&
    maskField !== 'unknown' &&
    namePattern !== undefined &&
    matches !== undefined
  const drafts: Draft[] = []
  // Unknown matches: one draft stands for the recipe, its inputs without {file}, {stem} or {dir} still checked.
  for (const match of matches ?? [undefined]) {
    const tokens: TokenValues = { ...values }
    const draftOpen: OpenTokens = matches === undefined ? { tokens: new Set([...(open.tokens ?? []), ...EACH_TOKENS]), vars: open.vars } : open
    if (match !== undefined) {
      const inBase = eachBase && match.startsWith(`${eachBase}/`) ? match.slice(eachBase.length + 1) : match
      tokens.file = match
      tokens.stem = posix.basename(match, posix.extname(match))
      tokens.dir = posix.dirname(inBase) === '.' ? '' : posix.dirname(inBase)
    }
    const fill = (template: string | undefined) => {
      if (template === undefined) return undefined
      const result = substitute(template, tokens, context.vars, KNOWN_TOKENS, draftOpen)
      return result.problems.length > 0 || result.uncertain ? undefined : result.value
    }
    const prompt = fill(promptTemplate)
    const refs = refTemplates.map(fill)
    const mask = fill(maskTemplate)
    const id = match === undefined ? recipeId : `${recipeId}/${eachBase && match.startsWith(`${eachBase}/`) ? match.slice(eachBase.length + 1) : match}`
    drafts.push({
      id,
      recipe: recipeId,
      ...(match !== undefined ? { eachFile: match } : {}),
      provider,
      model,
      prompt,
      params: params as JobParams,
      ...(seed !== undefined ? { seed } : {}),
      n: n ?? 1,
      refs,
      ...(mask !== undefined ? { mask } : {}),
      nameTokens: tokens,
      docPath: recipePath,
      capabilities,
      resolvedRefs: [],
      // A bad prompt still lets the rules check the recipe's inputs and parameters.
      broken: !complete || prompt === undefined || refs.some((ref) => ref === undefined) || (maskTemplate !== undefined && mask === undefined),
      namePattern,
      named,
      extStandIn: unknown.has('format'),
      open: draftOpen,
    })
  }
  return { drafts, sound }
}

function isProvider(value: string | undefined): value is ProviderId {
  return value !== undefined && Object.hasOwn(defaultModels, value)
}

function tokenDiagnostic(problem: TokenProblem, path: DocPath, place: string, hasEach: boolean, context: ExpandContext): Diagnostic {
  const rule = problem.kind === 'unknown-var' ? 'tokens/unknown-var' : problem.kind === 'unavailable' ? 'tokens/unavailable' : 'tokens/unknown'
  if (place === '`name`') {
    return context.source.diagnostic(
      'error',
      rule,
      path,
      problem.kind === 'unavailable' ? `${problem.token} cannot be used in this recipe's name` : `unknown token ${problem.token} in \`name\``,
      'Name tokens: {recipe} {index} {ext} {hash} {vars.name}, and {file} {stem} {dir} with `each`.',
      { substring: problem.token },
    )
  }
  const varNames = Object.keys(context.vars)
  return context.source.diagnostic(
    'error',
    rule,
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
      : tokenHint(place, hasEach),
    { substring: problem.token },
  )
}

function tokenHint(place: string, hasEach: boolean): string {
  if (place === '`each`') return 'Only {recipe} and {vars.name} can be used in `each`.'
  if (!hasEach) return `Tokens here: {recipe}, {vars.name}; {file}, {stem} and {dir} need \`each\`. Write {{ and }} for literal braces.`
  return 'Tokens here: {recipe}, {file}, {stem}, {dir}, {vars.name}. Write {{ and }} for literal braces.'
}

const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp' } as const

/**
 * The draft's output paths (built with stand-ins where a value is unknown) and, when the draft is
 * sound, its finished job with its key.
 */
function plan(draft: Draft, sound: boolean, context: ExpandContext): Planned {
  const refs: JobInput[] = draft.resolvedRefs
  const key =
    sound && draft.provider !== undefined && draft.model !== undefined && draft.prompt !== undefined
      ? computeJobKey({
          provider: draft.provider,
          model: draft.model,
          prompt: draft.prompt,
          params: draft.params,
          refs: refs.map(keyPart),
          ...(draft.resolvedMask ? { mask: keyPart(draft.resolvedMask) } : {}),
          ...(draft.seed !== undefined ? { seed: draft.seed } : {}),
        })
      : undefined
  const pattern = draft.namePattern
  if (pattern === undefined) return { draft, comparable: 'none', bad: false }
  // An unknown `n` builds the first name only (n is 1 then): it is exact, the others are unknown.
  const used = tokensIn(pattern)
  const comparable = key === undefined && used.has('hash') ? 'none' : draft.extStandIn && used.has('ext') ? 'recipe' : 'all'
  const outRelative = posix.relative(context.root.split('\\').join('/'), context.outDir.split('\\').join('/')) || '.'
  const outputs: string[] = []
  for (let index = 1; index <= draft.n; index++) {
    const ext = EXTENSIONS[draft.params.format] ?? EXTENSIONS.png
    const tokens: TokenValues = { ...draft.nameTokens, index: String(index), ext, hash: key ? key.slice(0, 10) : HASH_STAND_IN }
    const name = substitute(pattern, tokens, context.vars, KNOWN_TOKENS, draft.open)
    // A token error in the name is reported once per recipe, by expandRecipe. An unknown value
    // (an `each` that matched nothing, a bad recipe id) leaves nothing to check.
    if (name.problems.length > 0 || name.uncertain) return { draft, comparable, bad: name.problems.length > 0 }
    const normalized = posix.normalize(name.value.split('\\').join('/')).replace(/^(\.\/)+/, '')
    outputs.push(posix.join(outRelative, normalized))
  }
  if (!sound || key === undefined || draft.provider === undefined || draft.model === undefined || draft.prompt === undefined || !draft.capabilities) {
    return { draft, outputs, comparable, bad: false }
  }
  const params = draft.params
  const size = params.ratio === 'auto' ? undefined : draft.capabilities.sizes[params.ratio]?.[params.resolution]
  const job: Job = {
    id: draft.id,
    recipe: draft.recipe,
    ...(draft.eachFile !== undefined ? { eachFile: draft.eachFile } : {}),
    key,
    provider: draft.provider,
    model: draft.model,
    paid: draft.capabilities.paid,
    prompt: draft.prompt,
    params: {
      ratio: params.ratio,
      resolution: params.resolution,
      quality: params.quality,
      format: params.format,
      ...(params.compression !== undefined ? { compression: params.compression } : {}),
      ...(params.background !== undefined ? { background: params.background } : {}),
      ...(params.inputFidelity !== undefined ? { inputFidelity: params.inputFidelity } : {}),
      ...(params.moderation !== undefined ? { moderation: params.moderation } : {}),
    },
    ...(draft.seed !== undefined ? { seed: draft.seed } : {}),
    n: draft.n,
    ...(size ? { size } : {}),
    refs,
    ...(draft.resolvedMask ? { mask: draft.resolvedMask } : {}),
    outputs,
    docPath: draft.docPath,
  }
  return { draft, outputs, comparable, job, bad: false }
}

function keyPart(input: JobInput): string {
  return input.input.kind === 'file' ? input.input.sha256 : `url:${input.input.url}`
}

function defaultName(hasEach: boolean, n: number): string {
  if (hasEach) return n === 1 ? '{recipe}/{dir}/{stem}.{ext}' : '{recipe}/{dir}/{stem}-{index}.{ext}'
  return n === 1 ? '{recipe}.{ext}' : '{recipe}-{index}.{ext}'
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
async function checkOutputPaths(
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
function checkOutputNames(planned: Planned[], context: ExpandContext, diagnostics: Diagnostic[]): void {
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
