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
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: false })
    const top = ajv.compile({ ...schema, properties: { ...schema.properties, recipes: { ...schema.properties.recipes, additionalProperties: true } } })
    const recipe = ajv.compile({ definitions: schema.definitions, $ref: '#/definitions/recipe' })
    validators = { top, recipe }
  }
  return validators
}

/** Layer 2: the JSON Schema, every violation located. */
export async function validateSchema(value: unknown, source: ManifestSource): Promise<Diagnostic[]> {
  const { top, recipe } = await compileValidators()
  const errors: ErrorObject[] = top(value) ? [] : [...(top.errors ?? [])]
  const recipes = (value as { recipes?: unknown }).recipes
  let total = errors.length
  if (recipes && typeof recipes === 'object' && !Array.isArray(recipes)) {
    for (const [id, body] of Object.entries(recipes)) {
      if (recipe(body)) continue
      total += recipe.errors?.length ?? 0
      if (errors.length >= MAX_REPORTED) continue
      const prefix = `/recipes/${id.replace(/~/g, '~0').replace(/\//g, '~1')}`
      for (const error of recipe.errors ?? []) errors.push({ ...error, instancePath: prefix + error.instancePath })
    }
  }
  if (total === 0) return []
  const diagnostics: Diagnostic[] = []
  const seen = new Set<string>()
  for (const error of errors.slice(0, MAX_REPORTED)) {
    // `if`/`anyOf` wrappers repeat what their branches say; a `propertyNames` error is reported
    // once, at the bad key, rather than also by its inner keyword at the parent map.
    if (error.keyword === 'if' || error.keyword === '$ref') continue
    if (error.schemaPath.includes('/propertyNames/')) continue
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
  return diagnostics
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
    default:
      return source.diagnostic(
        'error',
        `schema/${error.keyword}`,
        path,
        `${name} ${error.message ?? 'is invalid'}`,
        'Check this value against the manifest reference.',
      )
  }
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
