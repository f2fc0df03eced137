import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { distance as distance_ } from 'fastest-levenshtein'
import type { Diagnostic } from '../diagnostics.js'
import type { DocPath, ManifestSource } from './source.js'

/** Absolute path of the shipped JSON Schema (`@images-edit/core/schema.json`). */
export const schemaPath = new URL('../../schema.json', import.meta.url)

/** Schema errors described and located; a manifest with thousands of them gets the first ones. */
const MAX_REPORTED = 500

let fingerprint: string | undefined

/** A hash of the schema's text: cached validation results are valid only for the schema they passed. */
export function schemaFingerprint(): string {
  fingerprint ??= createHash('sha256').update(readFileSync(schemaPath)).digest('hex')
  return fingerprint
}

interface Validators {
  /** The manifest with each recipe accepted as any object. */
  top: ValidateFunction
  /** One recipe. */
  recipe: ValidateFunction
}

let validators: Validators | undefined

/**
 * ajv loads and compiles on first use: a manifest served from the parse cache never needs it.
 * Recipes are validated one by one: ajv gathering tens of thousands of errors in one call
 * slows down quadratically, and one at a time we can stop after enough.
 */
async function compileValidators(): Promise<Validators> {
  if (!validators) {
    const { Ajv } = await import('ajv')
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as { properties: { recipes: object }; definitions: object }
    // Strict: a keyword ajv does not know (a typo in the schema) fails here instead of being ignored.
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true })
    const top = ajv.compile({ ...schema, properties: { ...schema.properties, recipes: { ...schema.properties.recipes, additionalProperties: true } } })
    const recipe = ajv.compile({ definitions: schema.definitions, $ref: '#/definitions/recipe' })
    validators = { top, recipe }
  }
  return validators
}

/**
 * Which parts of the manifest the schema refused, so that the rules (layer 3) can still check
 * everything else: a value with a schema error is unknown to them, and only what depends on it is
 * skipped. An unknown field is not listed (expansion ignores it).
 */
export class SchemaFindings {
  private readonly values = new Set<string>()
  private readonly keys = new Set<string>()
  private readonly counts = new Set<string>()
  /** Recipe ids with a schema problem of their own. */
  readonly recipes = new Set<string>()
  /** A schema problem outside every recipe (or in `recipes` itself): nothing is built. */
  manifestLevel = false

  /** Records the schema error's consequence. */
  add(error: ErrorObject): void {
    // `if`/`$ref` wrappers repeat their branches; a `propertyNames` inner error sits at the parent
    // map, while the `propertyNames` error itself names the bad key.
    if (error.keyword === 'if' || error.keyword === '$ref' || error.keyword === 'additionalProperties') return
    if (error.schemaPath.includes('/propertyNames/')) return
    const path = pathOf(error.instancePath)
    const params = error.params as Record<string, unknown>
    if (error.keyword === 'required') this.mark(this.values, [...path, String(params.missingProperty)])
    else if (error.keyword === 'propertyNames') this.mark(this.keys, [...path, String(params.propertyName)])
    else if (error.keyword === 'minItems' || error.keyword === 'maxItems') this.mark(this.counts, path)
    else this.mark(this.values, path)
  }

  /** Whether the value at `path`, or anything holding it, was refused. */
  isInvalid(path: DocPath): boolean {
    if (this.values.size === 0) return false
    for (let length = 0; length <= path.length; length++) if (this.values.has(key(path.slice(0, length)))) return true
    return false
  }

  /** Whether the key naming the value at `path` was refused (a bad recipe id or var name). */
  isKeyInvalid(path: DocPath): boolean {
    return this.keys.has(key(path))
  }

  /** Whether the list at `path` has too many or too few items (its items may still be fine). */
  isCountInvalid(path: DocPath): boolean {
    return this.counts.has(key(path))
  }

  private mark(set: Set<string>, path: DocPath): void {
    set.add(key(path))
    if (path[0] === 'recipes' && path.length >= 2) this.recipes.add(String(path[1]))
    else this.manifestLevel = true
  }
}

function key(path: DocPath): string {
  return JSON.stringify(path)
}

/** What {@link validateSchema} found. */
export interface SchemaResult {
  diagnostics: Diagnostic[]
  findings: SchemaFindings
  /** More problems than are described: the rules are not run (their output would be cut anyway). */
  truncated: boolean
}

/** Layer 2: the JSON Schema, every violation located. */
export async function validateSchema(value: unknown, source: ManifestSource): Promise<SchemaResult> {
  const { top, recipe } = await compileValidators()
  const findings = new SchemaFindings()
  // Every error counts for the findings; only those told on their own count towards the cap.
  const errors: ErrorObject[] = []
  let total = 0
  const collect = (error: ErrorObject) => {
    findings.add(error)
    if (!told(error)) return
    total++
    if (errors.length < MAX_REPORTED) errors.push(error)
  }
  if (!top(value)) for (const error of top.errors ?? []) collect(error)
  const recipes = (value as { recipes?: unknown }).recipes
  if (recipes && typeof recipes === 'object' && !Array.isArray(recipes)) {
    for (const [id, body] of Object.entries(recipes)) {
      if (recipe(body)) continue
      const prefix = `/recipes/${id.replace(/~/g, '~0').replace(/\//g, '~1')}`
      for (const error of recipe.errors ?? []) collect({ ...error, instancePath: prefix + error.instancePath })
    }
  }
  if (total === 0) return { diagnostics: [], findings, truncated: false }
  const diagnostics: Diagnostic[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const diagnostic = describe(error, source)
    const id = `${diagnostic.line}:${diagnostic.column}:${diagnostic.message}`
    if (seen.has(id)) continue
    seen.add(id)
    diagnostics.push(diagnostic)
  }
  if (total > MAX_REPORTED) {
    // Located at the top of the file, outside every recipe: nothing is expanded after this many.
    diagnostics.push(
      source.diagnostic('error', 'schema/too-many', [], `${total} schema problems; the first ${MAX_REPORTED} are shown`, 'Fix the ones shown first.', {
        target: 'key',
      }),
    )
  }
  return { diagnostics, findings, truncated: total > MAX_REPORTED }
}

/**
 * Whether an ajv error is told as a diagnostic of its own. `if`/`$ref` wrappers repeat what their
 * branches say; a `propertyNames` error is reported once, at the bad key, rather than also by its
 * inner keyword at the parent map; the branches of a type-only `anyOf` (string or number) are
 * told once, by the `anyOf`.
 */
function told(error: ErrorObject): boolean {
  if (error.keyword === 'if' || error.keyword === '$ref') return false
  if (error.schemaPath.includes('/propertyNames/')) return false
  return !(error.keyword === 'type' && /\/anyOf\/\d+\/type$/.test(error.schemaPath))
}

function pathOf(instancePath: string): (string | number)[] {
  if (!instancePath) return []
  return instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment))
}

function fieldName(path: DocPath): string {
  const parts = path.map((segment) => (typeof segment === 'number' ? `[${segment}]` : segment))
  return parts.join('.').replace(/\.\[/g, '[') || 'the manifest'
}

function describe(error: ErrorObject, source: ManifestSource): Diagnostic {
  const path = pathOf(error.instancePath)
  const name = fieldName(path)
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = String(params.additionalProperty)
      const allowed = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {})
      const guess = closest(field, allowed)
      return source.diagnostic(
        'error',
        'schema/unknown-field',
        [...path, field],
        `unknown field \`${field}\`${path.length ? ` in ${name}` : ''}`,
        guess ? `Did you mean \`${guess}\`? Allowed here: ${allowed.join(', ')}.` : `Allowed here: ${allowed.join(', ')}.`,
        { target: 'key' },
      )
    }
    case 'required': {
      const field = String(params.missingProperty)
      return source.diagnostic('error', 'schema/required', path, `${name} is missing the required field \`${field}\``, requiredHint(field), { target: 'key' })
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((item) => JSON.stringify(item))
      return source.diagnostic(
        'error',
        'schema/enum',
        path,
        `${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(error.data)}`,
        closestValue(error.data, params.allowedValues as unknown[]),
      )
    }
    case 'const':
      return source.diagnostic(
        'error',
        'schema/const',
        path,
        `${name} must be ${JSON.stringify(params.allowedValue)}; got ${JSON.stringify(error.data)}`,
        path[0] === 'version' ? 'This images-edit reads manifest version 1; write `version: 1`.' : `Write ${JSON.stringify(params.allowedValue)}.`,
      )
    case 'anyOf': {
      // A type-only union (`anyOf: [{type: string}, {type: number}]`, strict mode's spelling of
      // `type: [string, number]`) is told as one type error.
      const branches = Array.isArray(error.schema) ? (error.schema as { type?: unknown }[]) : []
      const types = branches.map((branch) => (Object.keys(branch).length === 1 && typeof branch.type === 'string' ? branch.type : undefined))
      if (types.length === 0 || types.some((type) => type === undefined)) break
      const type = types.join(',')
      return source.diagnostic(
        'error',
        'schema/type',
        path,
        `${name} must be ${types.join(' or ')}; got ${describeType(error.data)}`,
        typeHint(path, type, error.data),
      )
    }
    case 'type':
      return source.diagnostic(
        'error',
        'schema/type',
        path,
        `${name} must be ${String(params.type).replace(',', ' or ')}; got ${describeType(error.data)}`,
        typeHint(path, String(params.type), error.data),
      )
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return source.diagnostic(
        'error',
        `schema/${error.keyword}`,
        path,
        `${name} must be ${error.keyword.includes('inimum') ? '≥' : '≤'} ${String(params.limit)}; got ${JSON.stringify(error.data)}`,
        `Use a value ${error.keyword.includes('inimum') ? 'of at least' : 'of at most'} ${String(params.limit)}.`,
      )
    case 'minItems':
    case 'maxItems': {
      const count = Array.isArray(error.data) ? error.data.length : 0
      const max = error.keyword === 'maxItems'
      const extra = max && Array.isArray(error.data) ? [...path, Number(params.limit)] : path
      return source.diagnostic(
        'error',
        `schema/${error.keyword}`,
        extra,
        `${name} has ${count} item${count === 1 ? '' : 's'}; ${max ? 'at most' : 'at least'} ${String(params.limit)} allowed`,
        max && path.at(-1) === 'refs'
          ? `A request takes at most ${String(params.limit)} reference images; split the recipe or combine references.`
          : `Give ${max ? 'at most' : 'at least'} ${String(params.limit)}.`,
      )
    }
    case 'minLength':
      return source.diagnostic('error', 'schema/minLength', path, `${name} must not be empty`, 'Write a value or remove the field.')
    case 'maxLength':
      return source.diagnostic(
        'error',
        'schema/maxLength',
        path,
        `${name} is ${String((error.data as string).length)} characters; at most ${String(params.limit)} allowed`,
        'Shorten it.',
      )
    case 'minProperties':
      return source.diagnostic(
        'error',
        'schema/minProperties',
        path,
        `${name} is empty`,
        path.at(-1) === 'recipes' ? 'Add at least one recipe (see `images-edit init` for a starter).' : 'Add an entry or remove the field.',
        { target: 'key' },
      )
    case 'pattern':
      return source.diagnostic(
        'error',
        'schema/pattern',
        path,
        `${name} ${JSON.stringify(error.data)} does not match ${String(params.pattern)}`,
        patternHint(path),
      )
    case 'propertyNames': {
      const property = String(params.propertyName)
      return source.diagnostic(
        'error',
        'schema/name',
        [...path, property],
        `${JSON.stringify(property)} is not a valid ${path.at(-1) === 'recipes' ? 'recipe id' : 'name'} here`,
        path.at(-1) === 'recipes'
          ? 'Recipe ids start with a letter or digit and use only letters, digits, ".", "_" and "-".'
          : 'Names start with a letter or "_" and use only letters, digits, "_" and "-".',
        { target: 'key' },
      )
    }
  }
  return source.diagnostic(
    'error',
    `schema/${error.keyword}`,
    path,
    `${name} ${error.message ?? 'is invalid'}`,
    'Check this value against the manifest reference.',
  )
}

function requiredHint(field: string): string {
  switch (field) {
    case 'prompt':
      return 'Add `prompt: <what to do with the references>`.'
    case 'refs':
      return 'Add `refs: [path/to/image.png]` (1 to 16 reference images).'
    case 'version':
      return 'Add `version: 1` at the top.'
    case 'recipes':
      return 'Add a `recipes:` map with at least one recipe.'
    default:
      return `Add \`${field}\`.`
  }
}

function typeHint(path: DocPath, type: string, data: unknown): string {
  if (path.at(-1) === 'refs') return 'Write refs as a list: `refs: [a.png, b.jpg]`.'
  if (type === 'object' && path.at(-2) === 'recipes') return 'Indent the recipe fields under its id: at least `prompt:` and `refs:`.'
  if (data === null) return 'Write a value after the colon, or remove the field.'
  if (type === 'integer' || type === 'number') return 'Write a number without quotes, e.g. `n: 2`.'
  if (type.includes('string') && typeof path.at(-1) === 'string') return 'Quote the value if YAML reads it as something else (e.g. "1:1", "yes").'
  return `Write a value of type ${type.replace(',', ' or ')}.`
}

function patternHint(path: DocPath): string {
  if (path.at(-1) === 'baseUrl') return 'Use a full URL starting with https:// (or http:// for a local gateway).'
  if (path.at(-1) === 'apiKeyEnv') return 'Give the name of an environment variable, e.g. TOAPIS_API_KEY — never the key itself.'
  return 'Change the value to match the pattern.'
}

function describeType(value: unknown): string {
  if (value === null) return 'null (an empty value)'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  return `${typeof value} ${JSON.stringify(value)}`
}

function closestValue(value: unknown, allowed: unknown[]): string {
  if (typeof value === 'number' && allowed.includes(`${value}k`)) return `Write "${value}k".`
  const guess = typeof value === 'string' ? closest(value, allowed.map(String)) : undefined
  if (typeof value === 'string' && /^\d+:\d+$/.test(value)) {
    return `${value} is not a supported ratio; pick the closest of ${allowed.map(String).join(', ')}.`
  }
  return guess ? `Did you mean ${JSON.stringify(guess)}?` : `Use one of: ${allowed.map(String).join(', ')}.`
}

/** The candidate closest to `word` by edit distance, if it is reasonably close. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const distance = distance_(word.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}
