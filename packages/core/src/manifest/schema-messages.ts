// Turning ajv schema errors into located diagnostics with a message and a hint.
import type { ErrorObject } from 'ajv'
import { describePriceError } from '../cost/price-messages.js'
import type { Diagnostic } from '../diagnostics.js'
import { closest } from './did-you-mean.js'
import type { DocPath, ManifestSource } from './source.js'

/** One ajv error with what every message about it needs: where it is and how that place is named. */
interface SchemaError {
  error: ErrorObject
  source: ManifestSource
  path: (string | number)[]
  name: string
  params: Record<string, unknown>
}

/** The document path of an ajv `instancePath` (a JSON Pointer). */
export function pathOf(instancePath: string): (string | number)[] {
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

/** One schema error as a located diagnostic; a keyword without a message of its own gets ajv's. */
export function describe(error: ErrorObject, source: ManifestSource): Diagnostic {
  const path = pathOf(error.instancePath)
  const name = fieldName(path)
  const params = error.params as Record<string, unknown>
  const item: SchemaError = { error, source, path, name, params }
  return (
    describePriceError(error, source, path, name) ??
    describeKeyError(item) ??
    describeValueError(item) ??
    describeLimitError(item) ??
    source.diagnostic('error', `schema/${error.keyword}`, path, `${name} ${error.message ?? 'is invalid'}`, 'Check this value against the manifest reference.')
  )
}

/** Errors about which keys a map has: unknown, missing, badly named, or none at all. */
function describeKeyError({ error, source, path, name, params }: SchemaError): Diagnostic | undefined {
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
    case 'minProperties':
      return source.diagnostic(
        'error',
        'schema/minProperties',
        path,
        `${name} is empty`,
        path.at(-1) === 'recipes' ? 'Add at least one recipe (see `images-edit init` for a starter).' : 'Add an entry or remove the field.',
        { target: 'key' },
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
  return undefined
}

/** Errors about what a value is: not one of the allowed values, or of the wrong type. */
function describeValueError({ error, source, path, name, params }: SchemaError): Diagnostic | undefined {
  switch (error.keyword) {
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
  }
  return undefined
}

/** Errors about a value's bounds: a number's range, a list's or a text's length, a text's pattern. */
function describeLimitError({ error, source, path, name, params }: SchemaError): Diagnostic | undefined {
  switch (error.keyword) {
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
    case 'pattern':
      return source.diagnostic(
        'error',
        'schema/pattern',
        path,
        `${name} ${JSON.stringify(error.data)} does not match ${String(params.pattern)}`,
        patternHint(path),
      )
  }
  return undefined
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
