// Layer 3 for one recipe: its values read as the rules see them, checked, and turned into drafts.
import type { Diagnostic } from '../diagnostics.js'
import { capabilitiesOf, DEFAULT_PROVIDER, defaultModels } from '../providers/capabilities.js'
import type { ProviderCapabilities, ProviderId } from '../providers/provider.js'
import { type DraftCommon, draftsOf, eachMatches } from './each-expansion.js'
import { type Draft, type ExpandContext, isMap, type Known } from './expand-context.js'
import type { JobParams } from './job.js'
import { defaultName } from './plan-draft.js'
import { checkCapabilities } from './rules.js'
import type { DocPath } from './source.js'
import type { OpenTokens, TokenValues } from './template.js'
import { checkTemplates } from './template-checks.js'
import type { Recipe, RecipeParameters } from './types.js'
import type { SchemaFindings } from './validate-schema.js'

const BUILT_IN_DEFAULTS = { ratio: '1:1', resolution: '1k', quality: 'high', format: 'png', n: 1 } as const

/** Refs checked in a list that has too many anyway (it must be shortened; thousands are not read). */
const MAX_CHECKED_REFS = 64

/**
 * Layer 3 for one recipe: its templates, capabilities and `each` fan-out, each checked on the
 * values that have no schema error of their own. Returns its drafts (one per `each` match, or one
 * standing for the recipe when the matches are unknown) and whether the recipe is free of errors.
 */
export async function expandRecipe(
  recipeId: string,
  body: unknown,
  context: ExpandContext,
  diagnostics: Diagnostic[],
): Promise<{ drafts: Draft[]; sound: boolean }> {
  const { source, findings } = context
  const recipePath: DocPath = ['recipes', recipeId]
  if (!isMap(body) || findings.isInvalid(recipePath)) return { drafts: [], sound: false }
  const reader = recipeReader(recipePath, body as Partial<Recipe>, context)
  const own: Diagnostic[] = []
  const { provider, model, capabilities } = chooseProvider(reader, context)
  const { params, unknown, n, seed, seedKnown } = readParameters(reader)
  const candidates = readCandidates(reader, n, context, own)
  const inputs = readInputs(reader, findings)
  const idKnown = !findings.isKeyInvalid(recipePath)

  checkCapabilities(
    {
      docPath: recipePath,
      ...(provider ? { provider } : {}),
      ...(model ? { model } : {}),
      ...(capabilities ? { capabilities } : {}),
      params: params as Partial<JobParams>,
      ...(inputs.refCount !== undefined ? { refCount: inputs.refCount } : {}),
      hasMask: inputs.mask !== undefined,
      where: reader.where,
    },
    { source, diagnostics: own },
  )
  const namePattern = inputs.named ? textOf(inputs.nameField) : defaultName(inputs.hasEach, n ?? 1)
  const templates = { each: inputs.each, prompt: inputs.prompt, refs: inputs.refs, mask: inputs.mask, name: inputs.named ? namePattern : undefined }
  checkTemplates(recipePath, templates, inputs.hasEach, context, own)

  const values: TokenValues = idKnown ? { recipe: recipeId } : {}
  const open: OpenTokens = { tokens: new Set(idKnown ? [] : ['recipe']), vars: context.unknownVars }
  const { matches, eachBase } = await eachMatches(inputs.each, inputs.hasEach, { recipePath, values, open }, context, own)

  diagnostics.push(...own)
  const sound = !findings.recipes.has(recipeId) && !own.some((item) => item.severity === 'error')
  const complete =
    sound &&
    provider !== undefined &&
    model !== undefined &&
    unknown.size === 0 &&
    n !== undefined &&
    candidates !== undefined &&
    seedKnown &&
    inputs.prompt !== undefined &&
    inputs.refCount !== undefined &&
    inputs.maskField !== 'unknown' &&
    namePattern !== undefined &&
    matches !== undefined
  const common: DraftCommon = {
    recipe: recipeId,
    provider,
    model,
    params: params as JobParams,
    ...(seed !== undefined ? { seed } : {}),
    n: n ?? 1,
    candidates: candidates ?? n ?? 1,
    docPath: recipePath,
    capabilities,
    namePattern,
    named: inputs.named,
    extStandIn: unknown.has('format'),
  }
  return { drafts: draftsOf(common, inputs, { matches, eachBase, values, open }, complete, context), sound }
}

/** A recipe's values as the rules see them: its own, or inherited from `defaults`. */
interface RecipeReader {
  /** Where the recipe is in the manifest. */
  path: DocPath
  /** The recipe's own field. */
  field(name: keyof Recipe): Known<unknown>
  /** A parameter: the recipe's own, else the one in `defaults`. */
  param(name: keyof RecipeParameters): Known<unknown>
  /** Where an effective parameter was set (recipe, defaults, or the recipe itself when built in). */
  where(name: keyof RecipeParameters): DocPath
}

function recipeReader(recipePath: DocPath, recipe: Partial<Recipe>, context: ExpandContext): RecipeReader {
  const { findings } = context
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
  return { path: recipePath, field, param, where }
}

function textOf(known: Known<unknown>): string | undefined {
  return typeof known === 'object' && typeof known.value === 'string' ? known.value : undefined
}

/** Provider, model and capabilities of a recipe; each undefined when unknown (a schema error). */
function chooseProvider(
  reader: RecipeReader,
  context: ExpandContext,
): { provider: ProviderId | undefined; model: string | undefined; capabilities: ProviderCapabilities | undefined } {
  // Provider and model: an override (`--provider local`) wins; a model belongs to its provider,
  // so an override to another provider takes that provider's default.
  const declaredParam = reader.param('provider')
  const declared = declaredParam === 'unset' ? DEFAULT_PROVIDER : isProvider(textOf(declaredParam)) ? (textOf(declaredParam) as ProviderId) : undefined
  const override = context.options.providerOverride
  const provider = override ?? declared
  const overridden = override !== undefined && override !== declared
  const modelParam = reader.param('model')
  const model = provider === undefined ? undefined : overridden || modelParam === 'unset' ? defaultModels[provider] : (textOf(modelParam) ?? undefined)
  const capabilities = provider === undefined ? undefined : capabilitiesOf(provider, model ?? defaultModels[provider])
  return { provider, model, capabilities }
}

function isProvider(value: string | undefined): value is ProviderId {
  return value !== undefined && Object.hasOwn(defaultModels, value)
}

/**
 * `candidates`: at least `n` (every output is one of them); `n` when unset. Undefined when
 * unknown (a schema error, or fewer than `n`: then a located error is pushed to `own`).
 */
function readCandidates(reader: RecipeReader, n: number | undefined, context: ExpandContext, own: Diagnostic[]): number | undefined {
  const param = reader.param('candidates')
  if (param === 'unset') return n
  if (param === 'unknown' || typeof param.value !== 'number' || n === undefined) return undefined
  if (param.value >= n) return param.value
  own.push(
    context.source.diagnostic(
      'error',
      'candidates/below-n',
      reader.where('candidates'),
      `candidates is ${param.value} but n is ${n}: each of the ${n} outputs is one of the candidates`,
      `Raise candidates to at least ${n}, or remove it (it defaults to n).`,
      { target: 'value' },
    ),
  )
  return undefined
}

/**
 * The recipe's parameters: each known one (set, inherited or built in), or absent when it has a
 * schema error (`unknown` then lists it); `n` undefined when unknown, `seedKnown` false when it is.
 */
function readParameters(reader: RecipeReader): {
  params: Partial<Record<keyof JobParams, unknown>>
  unknown: Set<keyof RecipeParameters>
  n: number | undefined
  seed: string | number | undefined
  seedKnown: boolean
} {
  const params: Partial<Record<keyof JobParams, unknown>> = {}
  const unknown = new Set<keyof RecipeParameters>()
  for (const name of ['ratio', 'resolution', 'quality', 'format', 'compression', 'background', 'inputFidelity', 'moderation'] as const) {
    const value = reader.param(name)
    if (value === 'unknown') unknown.add(name)
    else if (value === 'unset') {
      if (name in BUILT_IN_DEFAULTS) params[name] = BUILT_IN_DEFAULTS[name as keyof typeof BUILT_IN_DEFAULTS]
    } else params[name] = value.value
  }
  const nParam = reader.param('n')
  const nValue = nParam === 'unset' ? 1 : nParam === 'unknown' ? undefined : nParam.value
  const n = typeof nValue === 'number' && Number.isInteger(nValue) && nValue >= 1 && nValue <= 10 ? nValue : undefined
  const seedParam = reader.param('seed')
  const seedKnown = seedParam !== 'unknown' && (seedParam === 'unset' || typeof seedParam.value === 'string' || typeof seedParam.value === 'number')
  const seed = typeof seedParam === 'object' ? (seedParam.value as string | number) : undefined
  return { params, unknown, n, seed, seedKnown }
}

/** The recipe's input templates (undefined where unknown or unset) and the fields they come from. */
interface RecipeInputs {
  /** The number of refs, when the list itself is sound. */
  refCount: number | undefined
  /** Each ref, undefined where the item has a schema error. */
  refs: (string | undefined)[]
  prompt: string | undefined
  mask: string | undefined
  maskField: Known<unknown>
  each: string | undefined
  hasEach: boolean
  nameField: Known<unknown>
  named: boolean
}

function readInputs(reader: RecipeReader, findings: SchemaFindings): RecipeInputs {
  const recipePath = reader.path
  // Refs: the list, and each item on its own (one bad item leaves the others checked).
  const refsPath: DocPath = [...recipePath, 'refs']
  const refsField = reader.field('refs')
  const refList = typeof refsField === 'object' && Array.isArray(refsField.value) ? (refsField.value as unknown[]) : undefined
  const countKnown = refList !== undefined && !findings.isCountInvalid(refsPath)
  const refTemplates = (refList ?? [])
    .slice(0, countKnown ? undefined : MAX_CHECKED_REFS)
    .map((item, index) => (typeof item === 'string' && !findings.isInvalid([...refsPath, index]) ? item : undefined))
  const maskField = reader.field('mask')
  const eachField = reader.field('each')
  const nameField = reader.field('name')
  return {
    refCount: countKnown ? refList.length : undefined,
    refs: refTemplates,
    prompt: textOf(reader.field('prompt')),
    mask: textOf(maskField),
    maskField,
    each: textOf(eachField),
    hasEach: eachField !== 'unset',
    nameField,
    named: nameField !== 'unset',
  }
}
