/**
 * `prices:` and `budget.maxSpend` in the manifest: what the schema accepts, and every mistake a
 * located diagnostic (file:line:col, the rule, a fix), like every other manifest error.
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { formatDiagnostic } from '../diagnostics.js'
import { FileIndex } from '../hash/file-index.js'
import { loadManifest } from '../manifest/load-manifest.js'
import { hostedProviderIds } from '../providers/catalog.js'
import { PRICE_QUALITIES, PRICE_RATIOS, PRICE_RESOLUTIONS } from './price-keys.js'

let project = ''
let cleanup: () => Promise<void> = async () => {}
beforeAll(async () => {
  ;({ dir: project, cleanup } = await tempDir('images-edit-prices-'))
  await writeFiles(project, { 'refs/a.png': await makeImage({ width: 64, height: 48 }) })
})
afterAll(() => cleanup())

/** Loads a manifest whose top is `lines` (indented YAML) above one sound recipe. */
async function load(lines: string[]) {
  const file = join(project, 'images.edit.yaml')
  await writeFile(file, ['version: 1', ...lines, 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]', ''].join('\n'))
  const loaded = await loadManifest(file, { fileIndex: new FileIndex(project, undefined) })
  return loaded.diagnostics.map((item) => ({ ...item, text: formatDiagnostic(item, { relativeTo: project }) }))
}

describe('prices in the manifest', () => {
  it('accepts numbers, nested maps in any order, "*", sizes, ratios, token rates, a currency and budget.maxSpend', async () => {
    const diagnostics = await load([
      'budget: { maxImagesPerRun: 10, maxSpend: 2.5 }',
      'prices:',
      '  currency: USD',
      '  aa:',
      '    gpt-image-1.5: 0.03',
      '  toapis:',
      '    gpt-image-1.5-official: { 1k: 0.02, 2k: 0.04, 4k: { "16:9": 0.08, "*": 0.09 } }',
      '  openai:',
      '    gpt-image-1.5:',
      '      high: { 1024x1024: 0.12, "*": 0.2 }',
      '      tokens: { textInput: 5, imageInput: 8, imageOutput: 32 }',
      '    gpt-image-1: { 1536x1024: { low: 0.01 }, "*": 0 }',
    ])
    expect(diagnostics).toEqual([])
  })

  it('a negative price is located at the value, with what a price is', async () => {
    const [diagnostic, ...rest] = await load(['prices:', '  aa:', '    gpt-image-1.5: { high: -0.5 }'])
    expect(rest).toEqual([])
    expect(diagnostic).toMatchObject({ rule: 'prices/negative', line: 4, column: 28, severity: 'error' })
    expect(diagnostic?.text).toMatch(/^images\.edit\.yaml:4:28: error: prices\.aa\.gpt-image-1\.5\.high must be ≥ 0; got -0\.5 \[prices\/negative\]/)
    expect(diagnostic?.hint).toMatch(/A price is what one output image costs/)
  })

  it('an unknown provider: did you mean, and which are allowed (local is free, so it has none)', async () => {
    const typo = await load(['prices:', '  toapsi:', '    m: 1'])
    expect(typo).toMatchObject([
      {
        rule: 'schema/unknown-field',
        line: 3,
        column: 3,
        hint: expect.stringMatching(/^Did you mean `toapis`\? Allowed here: currency, toapis, aa, openai\.$/),
      },
    ])
    expect(await load(['prices:', '  local:', '    local-preview: 0'])).toMatchObject([{ rule: 'schema/unknown-field', line: 3 }])
  })

  it('a key that is no quality, resolution, ratio or size: located at the key, with a guess', async () => {
    const [diagnostic, ...rest] = await load(['prices:', '  openai:', '    gpt-image-1.5:', '      hihg: 0.1', '      tokens: { textInput: 5 }'])
    expect(rest).toEqual([])
    expect(diagnostic).toMatchObject({ rule: 'prices/key', line: 5, column: 7, message: '"hihg" is not a price key (in prices.openai.gpt-image-1.5)' })
    expect(diagnostic?.hint).toMatch(/^Did you mean "high"\? A key of a price map is a quality \(low, medium, high, auto\), a resolution/)
    const nested = await load(['prices:', '  aa:', '    m: { high: { big: 1 } }'])
    expect(nested).toMatchObject([{ rule: 'prices/key', line: 4, message: expect.stringMatching(/"big" is not a price key \(in prices\.aa\.m\.high\)/) }])
    // `tokens` belongs right under the model, not deeper.
    expect(await load(['prices:', '  aa:', '    m: { high: { tokens: 1 } }'])).toMatchObject([{ rule: 'prices/key' }])
  })

  it('a price that is text or empty, a bad currency, a token rate misspelt, a negative maxSpend', async () => {
    expect(await load(['prices:', '  aa:', '    m: "0.03"'])).toMatchObject([
      { rule: 'prices/type', line: 4, message: 'prices.aa.m must be a price (a number) or a map of prices; got string "0.03"' },
    ])
    expect(await load(['prices:', '  aa:', '    m: {}'])).toMatchObject([{ rule: 'prices/empty', line: 4 }])
    expect(await load(['prices:', '  currency: usd'])).toMatchObject([{ rule: 'schema/pattern', line: 3 }])
    expect(await load(['prices:', '  aa:', '    m: { tokens: { textinput: 5 } }'])).toMatchObject([
      { rule: 'schema/unknown-field', line: 4, hint: expect.stringMatching(/Did you mean `textInput`/) },
    ])
    expect(await load(['budget: { maxSpend: -1 }'])).toMatchObject([{ rule: 'schema/minimum', line: 2 }])
  })

  it('keys of two kinds at one level, and a kind keyed twice on one path, are refused: which price applies would be a guess', async () => {
    const mixed = await load(['prices:', '  openai:', '    gpt-image-1.5: { high: 0.2, 1024x1024: 0.1 }'])
    expect(mixed).toMatchObject([
      { rule: 'prices/mixed-keys', line: 4, message: expect.stringMatching(/mixes quality keys \(high\) with size keys \(1024x1024\)/) },
    ])
    expect(mixed[0]?.text).toMatch(/^images\.edit\.yaml:4:33: error:/)
    const twice = await load(['prices:', '  aa:', '    m:', '      high:', '        low: 0.1'])
    expect(twice).toMatchObject([{ rule: 'prices/unreachable', line: 6, column: 9 }])
    // '*' goes with any kind.
    expect(await load(['prices:', '  aa:', '    m: { high: 0.2, "*": 0.1 }'])).toEqual([])
  })
})

describe('the schema of prices', () => {
  const schema = JSON.parse(readFileSync(new URL('../../schema.json', import.meta.url), 'utf8'))

  it('takes every hosted provider and no other', () => {
    expect(Object.keys(schema.properties.prices.properties).sort()).toEqual(['currency', ...hostedProviderIds].sort())
  })

  it('its price keys are the lookup’s: every quality, resolution and fixed ratio of the recipe schema, and "*"', () => {
    const { parameters } = schema.definitions
    const keys = schema.definitions.priceTree.else.propertyNames.anyOf[0].enum
    expect(keys).toEqual([...PRICE_QUALITIES, ...PRICE_RESOLUTIONS, ...PRICE_RATIOS, '*'])
    expect(PRICE_QUALITIES).toEqual(parameters.properties.quality.enum)
    expect(PRICE_RESOLUTIONS).toEqual(parameters.properties.resolution.enum)
    expect(PRICE_RATIOS).toEqual(parameters.properties.ratio.enum.filter((ratio: string) => ratio !== 'auto'))
    expect(schema.definitions.modelPrice.else.propertyNames.anyOf[0].enum).toEqual([...keys, 'tokens'])
  })
})
