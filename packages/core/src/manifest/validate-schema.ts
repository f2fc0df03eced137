import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ErrorObject, ValidateFunction } from 'ajv'
import type { Diagnostic } from '../diagnostics.js'
import { describe, pathOf } from './schema-messages.js'
import type { DocPath, ManifestSource } from './source.js'

/** The candidate closest to a misspelt name (kept here for the package's public entry). */
export { closest } from './did-you-mean.js'

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
