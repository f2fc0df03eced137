// Reading a manifest: its layers (YAML, schema, rules) run in order, and its recipes expanded into jobs.
import { realpath } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { checkPrices } from '../cost/check-prices.js'
import type { Diagnostic } from '../diagnostics.js'
import { ImagesEditError } from '../errors.js'
import { readBounded, realFolderMemo } from '../fs/project-fs.js'
import { sha256 } from '../hash/content-hash.js'
import type { FileIndex } from '../hash/file-index.js'
import type { ProviderId } from '../providers/provider.js'
import { type Draft, type ExpandContext, isMap, type Planned } from './expand-context.js'
import { expandRecipe } from './expand-recipe.js'
import type { Job, JobInput } from './job.js'
import { checkOut, checkOutputNames, checkOutputPaths } from './output-checks.js'
import { readParseCache, writeParseCache } from './parse-cache.js'
import { lazyManifestSource, parseManifestText } from './parse-manifest.js'
import { plan } from './plan-draft.js'
import { finishDiagnostics } from './report-diagnostics.js'
import { checkJob } from './rules.js'
import type { ManifestSource } from './source.js'
import { DEFAULT_CONCURRENCY, DEFAULT_OUT, type Manifest, type RecipeParameters } from './types.js'
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
  const { parsed, cached, textHash } = await parseLayer(file, absolute, options)
  const { source } = parsed
  const diagnostics = [...parsed.diagnostics]
  const empty = { file: absolute, root, outDir: join(root, DEFAULT_OUT), concurrency: DEFAULT_CONCURRENCY, jobs: [], source }
  const done = () => finishDiagnostics(diagnostics, source)
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
  checkPrices(manifest.prices, findings, source, diagnostics)
  const security = securityOf(manifest, findings)
  const realRoot = await realpath(root).catch(() => root)
  const manifestName = basename(absolute)
  const { outDir, outSound } = await checkOut(
    manifest,
    findings,
    { root, realRoot, manifestName, allowOutsideProject: security.allowOutsideProject, source },
    diagnostics,
  )
  // A YAML or schema error outside the recipes, or an unusable `out`: every rule still runs, but
  // nothing is built. An error inside a recipe only keeps that recipe from becoming jobs.
  const buildable = !findings.manifestLevel && !parsed.diagnostics.some((item) => item.severity === 'error') && outSound
  const context = expandContext(manifest, findings, { root, outDir, source, options })

  const { drafts, soundRecipes } = await expandRecipes(manifest, context, diagnostics)
  const planned = await planDrafts(drafts, context, diagnostics, { realRoot, security })
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

/**
 * Layer 1: the manifest read (bounded) and parsed, or its value taken from the parse cache when the
 * same bytes passed layers 1 and 2 before. Throws MANIFEST_NOT_FOUND when there is no file.
 */
async function parseLayer(
  file: string,
  absolute: string,
  options: LoadOptions,
): Promise<{ parsed: { source: ManifestSource; value: unknown; diagnostics: Diagnostic[] }; cached: unknown; textHash: string }> {
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
  return { parsed, cached, textHash }
}

/** The security settings as the rules check them. */
interface Security {
  allowOutsideProject: boolean
  allowLoopbackHttp: boolean
}

/**
 * A security setting with a schema error is taken as permissive for checking, so no problem
 * that depends on it is reported (and nothing is built: it is a manifest-level error).
 */
function securityOf(manifest: Manifest, findings: SchemaFindings): Security {
  const securityValue = isMap(manifest.security) ? manifest.security : {}
  return {
    allowOutsideProject: securityValue.allowOutsideProject === true || findings.isInvalid(['security', 'allowOutsideProject']),
    allowLoopbackHttp: securityValue.allowLoopbackHttp === true || findings.isInvalid(['security', 'allowLoopbackHttp']),
  }
}

/** What every recipe is expanded against: the usable vars and defaults, and those unknown. */
function expandContext(manifest: Manifest, findings: SchemaFindings, where: Pick<ExpandContext, 'root' | 'outDir' | 'source' | 'options'>): ExpandContext {
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
  return {
    ...where,
    findings,
    vars,
    unknownVars,
    defaults: !defaultsUnknown && isMap(manifest.defaults) ? (manifest.defaults as RecipeParameters) : {},
    defaultsUnknown,
  }
}

/** Every recipe expanded, in manifest order: all their drafts, and the recipes free of errors. */
async function expandRecipes(manifest: Manifest, context: ExpandContext, diagnostics: Diagnostic[]): Promise<{ drafts: Draft[]; soundRecipes: Set<string> }> {
  const drafts: Draft[] = []
  const soundRecipes = new Set<string>()
  const recipes: unknown = manifest.recipes
  if (isMap(recipes) && !context.findings.isInvalid(['recipes'])) {
    for (const [recipeId, recipe] of Object.entries(recipes)) {
      const expanded = await expandRecipe(recipeId, recipe, context, diagnostics)
      drafts.push(...expanded.drafts)
      if (expanded.sound) soundRecipes.add(recipeId)
    }
  }
  return { drafts, soundRecipes }
}

/** Every draft checked by the rules (its inputs resolved) and planned, sorted by job id. */
async function planDrafts(
  drafts: Draft[],
  context: ExpandContext,
  diagnostics: Diagnostic[],
  { realRoot, security }: { realRoot: string; security: Security },
): Promise<Planned[]> {
  const { source, options, root } = context
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
  return planned
}
