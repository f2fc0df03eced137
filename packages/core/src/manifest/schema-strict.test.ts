/**
 * The shipped JSON Schema compiles under ajv's strict mode (issue 10, point 8), core compiles it
 * strictly too, and the strict spelling accepts exactly what the old one did.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv, type Options } from 'ajv'
import { describe, expect, it, vi } from 'vitest'
import { parse } from 'yaml'
import { FileIndex } from '../hash/file-index.js'
import { loadManifest } from './load-manifest.js'
import { parseManifestText } from './parse-manifest.js'
import { validateSchema } from './validate-schema.js'

/** Every options object core passes to `new Ajv(…)`. */
const ajvOptions = vi.hoisted(() => [] as unknown[])
vi.mock('ajv', async (importOriginal) => {
  const real = await importOriginal<typeof import('ajv')>()
  class RecordingAjv extends real.Ajv {
    constructor(options?: Options) {
      ajvOptions.push(options)
      super(options)
    }
  }
  return { ...real, Ajv: RecordingAjv, default: RecordingAjv }
})

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '../../../..')
const schema = JSON.parse(readFileSync(join(here, '../../schema.json'), 'utf8')) as object
const examples = ['examples/basic/images.edit.yaml', 'examples/vite-app/images.edit.yaml']

describe('schema.json under strict mode', () => {
  it('compiles with new Ajv({ strict: true })', () => {
    expect(() => new Ajv({ strict: true }).compile(schema)).not.toThrow()
  })

  it('compiles with every strict option spelled out, and allErrors', () => {
    const ajv = new Ajv({ strict: true, strictSchema: true, strictTypes: true, strictTuples: true, strictRequired: true, strictNumbers: true, allErrors: true })
    expect(() => ajv.compile(schema)).not.toThrow()
  })

  it('strict mode would catch a misspelt keyword (so the test above means something)', () => {
    const broken = JSON.parse(JSON.stringify(schema)) as { properties: { out: Record<string, unknown> } }
    broken.properties.out.minLenght = 1
    expect(() => new Ajv({ strict: true }).compile(broken)).toThrow(/unknown keyword/)
  })

  it.each(examples)('%s is valid against the strictly compiled schema', (example) => {
    const validate = new Ajv({ strict: true, allErrors: true }).compile(schema)
    const value = parse(readFileSync(join(repo, example), 'utf8'))
    expect(validate(value), JSON.stringify(validate.errors, null, 2)).toBe(true)
  })

  it.each(examples)('%s loads without a diagnostic', async (example) => {
    const file = join(repo, example)
    const loaded = await loadManifest(file, { fileIndex: new FileIndex(dirname(file), undefined) })
    expect(loaded.diagnostics).toEqual([])
    expect(loaded.jobs.length).toBeGreaterThan(0)
  })

  it('a string-or-number value accepts what `type: [string, number]` did, and refuses the rest', () => {
    const validate = new Ajv({ strict: true }).compile(schema)
    const manifest = (seed: unknown, variable: unknown) => ({ version: 1, vars: { x: variable }, recipes: { r: { prompt: 'p', refs: ['a.png'], seed } } })
    for (const value of ['take 2', '', 7, 1.5, -3, 0]) expect(validate(manifest(value, value)), JSON.stringify(value)).toBe(true)
    for (const value of [true, null, {}, [], ['a'], { a: 1 }]) {
      expect(validate(manifest(value, 'ok')), `seed ${JSON.stringify(value)}`).toBe(false)
      expect(validate(manifest(1, value)), `var ${JSON.stringify(value)}`).toBe(false)
    }
  })
})

describe('core validates with a strict ajv', () => {
  it('passes strict: true to ajv, and a wrong-typed seed is still one "string or number" error', async () => {
    const text = 'version: 1\nrecipes:\n  r:\n    prompt: p\n    refs: [a.png]\n    seed: {x: 1}\n'
    const parsed = parseManifestText('/virtual/images.edit.yaml', text)
    const result = await validateSchema(parsed.value, parsed.source)
    expect(ajvOptions.length).toBeGreaterThan(0)
    for (const options of ajvOptions) expect(options).toMatchObject({ strict: true })
    expect(result.diagnostics.map((item) => [item.rule, item.line, item.column, item.message])).toEqual([
      ['schema/type', 6, 11, 'recipes.r.seed must be string or number; got a map'],
    ])
  })

  it('a string-or-number error counts once towards the cap of described problems (not once per anyOf branch)', async () => {
    const vars = Array.from({ length: 600 }, (_, index) => `  v${index}: [x]`)
    const text = ['version: 1', 'vars:', ...vars, 'recipes:', '  r:', '    prompt: p', '    refs: [a.png]', ''].join('\n')
    const parsed = parseManifestText('/virtual/images.edit.yaml', text)
    const result = await validateSchema(parsed.value, parsed.source)
    expect(result.diagnostics.filter((item) => item.rule === 'schema/type')).toHaveLength(500)
    expect(result.diagnostics.find((item) => item.rule === 'schema/too-many')?.message).toBe('600 schema problems; the first 500 are shown')
  })
})
