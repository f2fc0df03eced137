/**
 * Every validation rule of the manifest, each with a failing fixture and the exact 1-based line
 * and column of the diagnostic asserted. Manifests are written inline as one string per line, so
 * the line numbers in the comments are the line numbers asserted.
 */
import { writeFile } from 'node:fs/promises'
import { basename, join, relative } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, makeMask, tempDir, writeFiles } from '../../../../test/helpers.js'
import { type Diagnostic, formatDiagnostic } from '../diagnostics.js'
import { FileIndex } from '../hash/file-index.js'
import type { ProviderId } from '../providers/provider.js'
import { type LoadedManifest, loadManifest } from './load-manifest.js'

/** A manifest from its lines; line N of the file is argument N. */
function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`
}

let project: string
let cleanup: () => Promise<void>
let counter = 0

beforeAll(async () => {
  const temp = await tempDir('images-edit-validation-')
  project = temp.dir
  cleanup = temp.cleanup
  const refs17: Record<string, Buffer> = {}
  const small = await makeImage({ width: 8, height: 8 })
  for (let index = 0; index < 17; index++) refs17[`refs/many/r${index}.png`] = small
  await writeFiles(project, {
    'refs/a.png': await makeImage({ width: 64, height: 48 }),
    'refs/b.jpg': await makeImage({ width: 64, height: 48, format: 'jpeg' }),
    'refs/portrait.jpg': await makeImage({ width: 64, height: 48, format: 'jpeg' }),
    'refs/c.webp': await makeImage({ width: 64, height: 48, format: 'webp' }),
    'refs/fake.png': 'I am a text file wearing a .png name\n',
    'refs/empty.png': new Uint8Array(0),
    'refs/anim.gif': await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .gif()
      .toBuffer(),
    'refs/products/bottle.jpg': await makeImage({ width: 32, height: 32, format: 'jpeg' }),
    'refs/products/can.jpg': await makeImage({ width: 32, height: 32, format: 'jpeg' }),
    'refs/products/sub/jar.jpg': await makeImage({ width: 32, height: 32, format: 'jpeg' }),
    'masks/ok.png': await makeMask(64, 48),
    'masks/small.png': await makeMask(32, 24),
    'masks/noalpha.png': await makeImage({ width: 64, height: 48, format: 'png' }),
    'masks/mask.jpg': await makeImage({ width: 64, height: 48, format: 'jpeg' }),
    ...refs17,
  })
})

afterAll(async () => {
  await cleanup()
})

/** Writes `text` as a manifest in the shared project and loads it. */
async function load(text: string | Uint8Array, options: { providerOverride?: ProviderId } = {}): Promise<LoadedManifest> {
  counter++
  const file = join(project, `case-${counter}.edit.yaml`)
  await writeFile(file, text)
  return loadManifest(file, { fileIndex: new FileIndex(project, undefined), ...options })
}

interface Expected {
  rule: string
  severity?: 'error' | 'warning'
  line: number
  column: number
  /** The source line from `column` on starts with this (proves the column points at the right token). */
  at?: string
  message?: RegExp
  hint?: RegExp
}

/** Asserts a diagnostic is where and what it should be, with a fix hint and a readable rendering. */
function expectDiagnostic(diagnostic: Diagnostic | undefined, expected: Expected): void {
  expect(diagnostic, `expected a ${expected.rule} diagnostic`).toBeDefined()
  if (!diagnostic) return
  const severity = expected.severity ?? 'error'
  expect({ rule: diagnostic.rule, severity: diagnostic.severity, line: diagnostic.line, column: diagnostic.column }).toEqual({
    rule: expected.rule,
    severity,
    line: expected.line,
    column: expected.column,
  })
  expect(diagnostic.file).toMatch(/case-\d+\.edit\.yaml$/)
  expect(diagnostic.message.length).toBeGreaterThan(0)
  if (expected.message) expect(diagnostic.message).toMatch(expected.message)
  // Every error says how to fix it.
  if (severity === 'error') expect(diagnostic.hint, `${diagnostic.rule} has no hint`).toMatch(/\S/)
  if (expected.hint) expect(diagnostic.hint).toMatch(expected.hint)
  expect(diagnostic.sourceLine).toBeDefined()
  if (expected.at !== undefined) expect((diagnostic.sourceLine ?? '').slice(diagnostic.column - 1)).toMatch(new RegExp(`^${escapeRegExp(expected.at)}`))
  const text = formatDiagnostic(diagnostic)
  expect(text).toContain(`${basename(diagnostic.file)}:${expected.line}:${expected.column}: ${severity}: `)
  expect(text).toContain(`[${expected.rule}]`)
  if (diagnostic.hint) expect(text).toContain(`fix: ${diagnostic.hint}`)
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Asserts the manifest has exactly one diagnostic, and that it is `expected`. */
async function expectOnly(text: string | Uint8Array, expected: Expected): Promise<LoadedManifest> {
  const loaded = await load(text)
  expect(loaded.diagnostics.map(summary)).toEqual([`${expected.severity ?? 'error'} ${expected.rule} ${expected.line}:${expected.column}`])
  expectDiagnostic(loaded.diagnostics[0], expected)
  return loaded
}

function summary(diagnostic: Diagnostic): string {
  return `${diagnostic.severity} ${diagnostic.rule} ${diagnostic.line}:${diagnostic.column}`
}

function find(loaded: LoadedManifest, rule: string): Diagnostic | undefined {
  return loaded.diagnostics.find((diagnostic) => diagnostic.rule === rule)
}

describe('a valid manifest', () => {
  it('has no diagnostics and expands into the expected jobs, fan-out ids and default names', async () => {
    const loaded = await load(
      yaml(
        '# yaml-language-server: $schema=./node_modules/@images-edit/core/schema.json', // 1
        'version: 1', // 2
        'out: src/assets/edits', // 3
        'vars:', // 4
        '  style: soft studio light', // 5
        'defaults:', // 6
        '  provider: toapis', // 7
        '  ratio: "1:1"', // 8
        'providers:', // 9
        '  toapis:', // 10
        '    baseUrl: https://toapis.com/v1', // 11
        '    apiKeyEnv: TOAPIS_API_KEY', // 12
        '    concurrency: 4', // 13
        'concurrency: 6', // 14
        'recipes:', // 15
        '  hero:', // 16
        '    prompt: Blend these into a poster, {vars.style}', // 17
        '    refs: [refs/a.png, refs/portrait.jpg]', // 18
        '    ratio: "16:9"', // 19
        '    resolution: 4k', // 20
        '    n: 2', // 21
        '  portrait-sky:', // 22
        '    prompt: Replace the background with a starry sky', // 23
        '    refs: [refs/a.png]', // 24
        '    mask: masks/ok.png', // 25
        '  product:', // 26
        '    each: refs/products/*.jpg', // 27
        '    prompt: Place the {stem} on a marble table, {vars.style}', // 28
        '    refs: ["{file}", refs/b.jpg]', // 29
        '  named:', // 30
        '    each: refs/products/*.jpg', // 31
        '    prompt: "{stem} with {{braces}}"', // 32
        '    refs: ["{file}"]', // 33
        '    name: products/{stem}.{ext}', // 34
        '    format: jpeg', // 35
        '  nested:', // 36
        '    each: refs/products/**/*.jpg', // 37
        '    prompt: "{dir} {stem}"', // 38
        '    refs: ["{file}", "https://example.com/texture.png"]', // 39
      ),
    )
    expect(loaded.diagnostics).toEqual([])
    expect(loaded.outDir).toBe(join(project, 'src/assets/edits'))
    expect(loaded.concurrency).toBe(6)
    const jobs = Object.fromEntries(loaded.jobs.map((job) => [job.id, job]))
    expect(loaded.jobs.map((job) => job.id)).toEqual([
      'hero',
      'named/bottle.jpg',
      'named/can.jpg',
      'nested/bottle.jpg',
      'nested/can.jpg',
      'nested/sub/jar.jpg',
      'portrait-sky',
      'product/bottle.jpg',
      'product/can.jpg',
    ])
    expect(jobs.hero?.outputs).toEqual(['src/assets/edits/hero-1.png', 'src/assets/edits/hero-2.png'])
    expect(jobs.hero?.prompt).toBe('Blend these into a poster, soft studio light')
    expect(jobs.hero?.size).toEqual({ width: 3840, height: 2160 })
    expect(jobs.hero?.refs.map((ref) => ref.path)).toEqual(['refs/a.png', 'refs/portrait.jpg'])
    expect(jobs['portrait-sky']?.outputs).toEqual(['src/assets/edits/portrait-sky.png'])
    expect(jobs['portrait-sky']?.mask?.path).toBe('masks/ok.png')
    expect(jobs['product/bottle.jpg']?.eachFile).toBe('refs/products/bottle.jpg')
    expect(jobs['product/bottle.jpg']?.prompt).toBe('Place the bottle on a marble table, soft studio light')
    expect(jobs['product/bottle.jpg']?.refs.map((ref) => ref.path)).toEqual(['refs/products/bottle.jpg', 'refs/b.jpg'])
    expect(jobs['product/bottle.jpg']?.outputs).toEqual(['src/assets/edits/product/bottle.png'])
    expect(jobs['named/can.jpg']?.outputs).toEqual(['src/assets/edits/products/can.jpg'])
    expect(jobs['named/can.jpg']?.prompt).toBe('can with {braces}')
    expect(jobs['nested/sub/jar.jpg']?.outputs).toEqual(['src/assets/edits/nested/sub/jar.png'])
    expect(jobs['nested/sub/jar.jpg']?.prompt).toBe('sub jar')
    expect(jobs['nested/bottle.jpg']?.refs[1]?.input).toEqual({ kind: 'url', url: 'https://example.com/texture.png' })
    expect(loaded.jobs.every((job) => job.provider === 'toapis' && job.model === 'gpt-image-1.5-official')).toBe(true)
  })

  it('accepts a UTF-8 byte order mark and CRLF line endings without shifting locations', async () => {
    const text = yaml(
      'version: 1', // 1
      'recipes:', // 2
      '  hero:', // 3
      '    prompt: café', // 4
      '    refs: [refs/nope.png]', // 5
    ).replace(/\n/g, '\r\n')
    await expectOnly(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]), {
      rule: 'ref/missing',
      line: 5,
      column: 12,
      at: 'refs/nope.png',
    })
  })

  it('a backslash in `out` separates folders, as in names, so outputs stay in `outDir`', async () => {
    const loaded = await load(yaml('version: 1', 'out: site\\img', 'recipes:', '  hero:', '    prompt: x', '    refs: [refs/a.png]'))
    expect(loaded.diagnostics).toEqual([])
    expect(loaded.outDir).toBe(join(project, 'site', 'img'))
    expect(loaded.jobs.map((job) => job.outputs)).toEqual([['site/img/hero.png']])
  })

  it('CRLF line endings: a schema error in a later recipe is located and does not crash', async () => {
    const text = yaml(
      'version: 1', // 1
      'recipes:', // 2
      '  a:', // 3
      '    prompt: fine', // 4
      '    refs: [refs/a.png]', // 5
      '  b:', // 6
      '    prompt: no refs', // 7
      '    nmae: b.png', // 8
    ).replace(/\n/g, '\r\n')
    const loaded = await load(text)
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/required 6:3', 'error schema/unknown-field 8:5'])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'schema/required', line: 6, column: 3, at: 'b:', message: /`refs`/ })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/unknown-field', line: 8, column: 5, at: 'nmae', hint: /Did you mean `name`/ })
    expect(loaded.jobs.map((job) => job.id)).toEqual(['a'])
  })

  it('uses `generated` as the default output folder', async () => {
    const loaded = await load(yaml('version: 1', 'recipes:', '  hero:', '    prompt: x', '    refs: [refs/a.png]'))
    expect(loaded.diagnostics).toEqual([])
    expect(loaded.jobs.map((job) => job.outputs)).toEqual([['generated/hero.png']])
  })
})

describe('layer 1: YAML syntax', () => {
  it('an unclosed quote is reported where the quote opens', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: "Make it red', // 4
        '    refs: [refs/a.png]', // 5
      ),
      { rule: 'yaml/missing_char', line: 4, column: 13, at: '"Make it red', message: /quote/, hint: /quot/ },
    )
  })

  it('an unclosed single quote is reported where the quote opens', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:', "    prompt: 'it''s red", '    refs: [refs/a.png]'), {
      rule: 'yaml/missing_char',
      line: 4,
      column: 13,
      at: "'it''s",
    })
  })

  it('an unclosed [ is reported where the bracket opens', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png, refs/b.jpg', // 5
      ),
      { rule: 'yaml/bad_indent', line: 5, column: 11, at: '[refs/a.png' },
    )
  })

  it('a missing comma between flow items is reported at the gap, not moved to a quote', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: ["refs/a.png" "refs/b.jpg"]'), {
      rule: 'yaml/missing_char',
      line: 5,
      column: 25,
      at: '"refs/b.jpg"',
      message: /Missing , or :/,
    })
  })

  it('bad indentation is reported at the misaligned key', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: hi', // 4
        '   refs: [refs/a.png]', // 5
      ),
      { rule: 'yaml/bad_indent', line: 5, column: 4, at: 'refs:', hint: /indentation/ },
    )
  })

  it('a duplicate key is reported at the second occurrence', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    prompt: again', // 6
      ),
      { rule: 'yaml/duplicate_key', line: 6, column: 5, at: 'prompt: again', hint: /once/ },
    )
  })

  it('a tab used as indentation is reported at the tab', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '\thero:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
      ),
      { rule: 'yaml/tab_as_indent', line: 3, column: 1, at: '\thero', hint: /spaces/ },
    )
  })

  it('an unquoted ": " inside a value is reported at the value, with a quoting hint', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: Make it: red', // 4
        '    refs: [refs/a.png]', // 5
      ),
      { rule: 'yaml/block_as_implicit_key', line: 4, column: 13, at: 'Make it: red', hint: /Quote/ },
    )
  })

  it('a UTF-16 file is refused at 1:1', async () => {
    const text = yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]')
    const loaded = await expectOnly(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), {
      rule: 'yaml/encoding',
      line: 1,
      column: 1,
      message: /UTF-16/,
      hint: /UTF-8/,
    })
    expect(loaded.jobs).toEqual([])
  })

  it('a Latin-1 (non-UTF-8) file is located at the first invalid byte', async () => {
    const text = yaml(
      'version: 1', // 1
      'recipes:', // 2
      '  hero:', // 3
      '    prompt: café au lait', // 4
      '    refs: [refs/a.png]', // 5
    )
    await expectOnly(Buffer.from(text, 'latin1'), { rule: 'yaml/encoding', line: 4, column: 16, message: /not valid UTF-8.*0xE9/, hint: /UTF-8/ })
  })

  it('a file with NUL bytes is located at the first NUL', async () => {
    await expectOnly(yaml('version: 1', 'recipes:\0', '  hero:'), { rule: 'yaml/encoding', line: 2, column: 9, message: /NUL/ })
  })

  it('an empty file, a bare scalar and a list are not manifests', async () => {
    for (const text of ['', 'hello\n', '- a\n- b\n']) {
      const loaded = await expectOnly(text, { rule: 'schema/type', line: 1, column: 1, message: /must be a map/ })
      expect(loaded.jobs).toEqual([])
    }
  })

  it('after a syntax error, positions past a block scalar are still right', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'defaults:', // 2
        '  provider: toapis', // 3
        '  ]ratio: "1:1"', // 4
        'recipes:', // 5
        '  hero:', // 6
        '    prompt: |', // 7
        '      Place the {stem}', // 8
        '    refs: [refs/a.png]', // 9
      ),
    )
    expect(loaded.diagnostics.length).toBeGreaterThan(0)
    expectDiagnostic(loaded.diagnostics[0], { rule: 'yaml/unexpected_token', line: 4, column: 3, at: ']ratio' })
    for (const diagnostic of loaded.diagnostics) {
      expect(diagnostic.column).toBeLessThanOrEqual((diagnostic.sourceLine ?? '').length + 1)
    }
    // yaml's own line counter loses the newline after the block scalar; the token `refs` is on line 9.
    expectDiagnostic(
      loaded.diagnostics.find((diagnostic) => diagnostic.line === 9),
      { rule: 'yaml/unexpected_token', line: 9, column: 5, at: 'refs' },
    )
  })

  it('a missing manifest file is the one thing that throws, with a clear message', async () => {
    await expect(loadManifest(join(project, 'nope.edit.yaml'), { fileIndex: new FileIndex(project, undefined) })).rejects.toMatchObject({
      code: 'MANIFEST_NOT_FOUND',
      message: expect.stringMatching(/does not exist.*images-edit init/),
    })
  })

  it('an alias bomb is refused with a located error', async () => {
    const lines = ['version: 1', 'a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let level = 0; level < 8; level++)
      lines.push(`${String.fromCharCode(98 + level)}: &${String.fromCharCode(98 + level)} [${`*${String.fromCharCode(97 + level)}, `.repeat(10).slice(0, -2)}]`)
    const loaded = await load(yaml(...lines))
    expectDiagnostic(find(loaded, 'yaml/aliases'), { rule: 'yaml/aliases', line: 1, column: 1, hint: /alias/ })
  })
})

describe('layer 2: the JSON Schema', () => {
  it('an unknown top-level field is located at its key and lists the allowed fields', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'colour: red', // 2
        'recipes:', // 3
        '  hero:', // 4
        '    prompt: hi', // 5
        '    refs: [refs/a.png]', // 6
      ),
      { rule: 'schema/unknown-field', line: 2, column: 1, at: 'colour', message: /unknown field `colour`/, hint: /Allowed here: version, out, vars/ },
    )
  })

  it('a misspelt top-level field gets a "did you mean"', async () => {
    const loaded = await load(yaml('version: 1', 'recipe:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]'))
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/required 1:1', 'error schema/unknown-field 2:1'])
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/unknown-field', line: 2, column: 1, at: 'recipe:', hint: /Did you mean `recipes`\?/ })
  })

  it('an unknown field inside a recipe gets a "did you mean" for a typo', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    promt: make it red', // 4
        '    refs: [refs/a.png]', // 5
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/required 3:3', 'error schema/unknown-field 4:5'])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'schema/required', line: 3, column: 3, at: 'hero', message: /missing the required field `prompt`/ })
    expectDiagnostic(loaded.diagnostics[1], {
      rule: 'schema/unknown-field',
      line: 4,
      column: 5,
      at: 'promt',
      message: /unknown field `promt` in recipes\.hero/,
      hint: /^Did you mean `prompt`\?/,
    })
    expect(loaded.jobs).toEqual([])
  })

  it('an unknown field in defaults and in providers is located too', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'defaults:', // 2
        '  resolutoin: 2k', // 3
        'providers:', // 4
        '  toapis:', // 5
        '    apiKeyEvn: TOAPIS_KEY', // 6
        '  dalle: {}', // 7
        'recipes:', // 8
        '  hero:', // 9
        '    prompt: hi', // 10
        '    refs: [refs/a.png]', // 11
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/unknown-field 3:3', 'error schema/unknown-field 6:5', 'error schema/unknown-field 7:3'])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'schema/unknown-field', line: 3, column: 3, at: 'resolutoin', hint: /Did you mean `resolution`/ })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/unknown-field', line: 6, column: 5, at: 'apiKeyEvn', hint: /Did you mean `apiKeyEnv`/ })
    expectDiagnostic(loaded.diagnostics[2], { rule: 'schema/unknown-field', line: 7, column: 3, at: 'dalle' })
  })

  it('missing version, prompt and refs are each reported at their map', async () => {
    const loaded = await load(
      yaml(
        'recipes:', // 1
        '  hero:', // 2
        '    refs: [refs/a.png]', // 3
        '  other:', // 4
        '    prompt: x', // 5
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/required 1:1', 'error schema/required 2:3', 'error schema/required 4:3'])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'schema/required', line: 1, column: 1, message: /`version`/, hint: /version: 1/ })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/required', line: 2, column: 3, at: 'hero', message: /`prompt`/, hint: /prompt:/ })
    expectDiagnostic(loaded.diagnostics[2], { rule: 'schema/required', line: 4, column: 3, at: 'other', message: /`refs`/, hint: /refs: \[/ })
  })

  it('missing recipes, and an empty recipes map', async () => {
    await expectOnly(yaml('version: 1', 'out: dist'), { rule: 'schema/required', line: 1, column: 1, message: /`recipes`/, hint: /recipes:/ })
    await expectOnly(yaml('version: 1', 'recipes: {}'), { rule: 'schema/minProperties', line: 2, column: 1, at: 'recipes', hint: /at least one recipe/ })
  })

  it('a recipe with no fields is located at its empty value', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:'), {
      rule: 'schema/type',
      line: 3,
      column: 8,
      message: /recipes\.hero must be object/,
      hint: /prompt/,
    })
  })

  it('wrong enum values: ratio "7:3", resolution 8k, format gif — all three at once', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    ratio: "7:3"', // 6
        '    resolution: 8k', // 7
        '    format: gif', // 8
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/enum 6:12', 'error schema/enum 7:17', 'error schema/enum 8:13'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'schema/enum',
      line: 6,
      column: 12,
      at: '"7:3"',
      message: /ratio must be one of .*"16:9".*got "7:3"/,
      hint: /not a supported ratio/,
    })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/enum', line: 7, column: 17, at: '8k', message: /"1k", "2k", "4k"; got "8k"/ })
    expectDiagnostic(loaded.diagnostics[2], { rule: 'schema/enum', line: 8, column: 13, at: 'gif', hint: /png, jpeg, webp/ })
  })

  it('a resolution written as a number suggests the string', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]', '    resolution: 2'), {
      rule: 'schema/enum',
      line: 6,
      column: 17,
      at: '2',
      hint: /Write "2k"/,
    })
  })

  it('an unknown provider is an enum error with the providers listed', async () => {
    await expectOnly(yaml('version: 1', 'defaults:', '  provider: dalle', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]'), {
      rule: 'schema/enum',
      line: 3,
      column: 13,
      at: 'dalle',
      hint: /toapis, aa, openai, local/,
    })
  })

  it('wrong types: refs as a string, n as a string, prompt empty or null, seed as a map', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  a:', // 3
        '    prompt: hi', // 4
        '    refs: refs/a.png', // 5
        '    n: "3"', // 6
        '  b:', // 7
        '    prompt:', // 8
        '    refs: [refs/a.png]', // 9
        '    seed: {x: 1}', // 10
        '  c:', // 11
        '    prompt: ""', // 12
        '    refs: []', // 13
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual([
      'error schema/type 5:11',
      'error schema/type 6:8',
      'error schema/type 8:12',
      'error schema/type 10:11',
      'error schema/minLength 12:13',
      'error schema/minItems 13:11',
    ])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'schema/type', line: 5, column: 11, at: 'refs/a.png', message: /must be array; got string/, hint: /list/ })
    expectDiagnostic(loaded.diagnostics[1], {
      rule: 'schema/type',
      line: 6,
      column: 8,
      at: '"3"',
      message: /n must be integer; got string "3"/,
      hint: /without quotes/,
    })
    expectDiagnostic(loaded.diagnostics[2], {
      rule: 'schema/type',
      line: 8,
      column: 12,
      message: /prompt must be string; got null/,
      hint: /value after the colon/,
    })
    expectDiagnostic(loaded.diagnostics[3], { rule: 'schema/type', line: 10, column: 11, at: '{x: 1}', message: /string or number; got a map/ })
    expectDiagnostic(loaded.diagnostics[4], { rule: 'schema/minLength', line: 12, column: 13, at: '""', message: /must not be empty/ })
    expectDiagnostic(loaded.diagnostics[5], { rule: 'schema/minItems', line: 13, column: 11, at: '[]', message: /0 items; at least 1/ })
  })

  it('n out of range: 0 and 11', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  a:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    n: 0', // 6
        '  b:', // 7
        '    prompt: hi', // 8
        '    refs: [refs/a.png]', // 9
        '    n: 11', // 10
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/minimum 6:8', 'error schema/maximum 10:8'])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'schema/minimum', line: 6, column: 8, at: '0', message: /n must be ≥ 1; got 0/, hint: /at least 1/ })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/maximum', line: 10, column: 8, at: '11', message: /n must be ≤ 10; got 11/, hint: /at most 10/ })
  })

  it('17 refs: located at the 17th', async () => {
    const refs = Array.from({ length: 17 }, (_, index) => `      - refs/many/r${index}.png`)
    // Lines 6..22 are the refs; the 17th is on line 22.
    const loaded = await expectOnly(yaml('version: 1', 'recipes:', '  many:', '    prompt: hi', '    refs:', ...refs), {
      rule: 'schema/maxItems',
      line: 22,
      column: 9,
      at: 'refs/many/r16.png',
      message: /17 items; at most 16/,
      hint: /at most 16 reference images/,
    })
    expect(loaded.jobs).toEqual([])
  })

  it('17 refs in a flow list: located at the 17th item', async () => {
    const refs = Array.from({ length: 17 }, (_, index) => `refs/many/r${index}.png`)
    const line = `    refs: [${refs.join(', ')}]`
    await expectOnly(yaml('version: 1', 'recipes:', '  many:', '    prompt: hi', line), {
      rule: 'schema/maxItems',
      line: 5,
      column: 306,
      at: 'refs/many/r16.png]',
    })
  })

  it('version: 2', async () => {
    await expectOnly(yaml('version: 2', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]'), {
      rule: 'schema/const',
      line: 1,
      column: 10,
      at: '2',
      message: /version must be 1; got 2/,
      hint: /version: 1/,
    })
  })

  it('an invalid recipe id is one error at the id, and other recipes still expand', async () => {
    const loaded = await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  good:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '  "bad id!":', // 6
        '    prompt: hi', // 7
        '    refs: [refs/a.png]', // 8
      ),
      { rule: 'schema/name', line: 6, column: 3, at: '"bad id!"', message: /"bad id!" is not a valid recipe id/, hint: /letters, digits/ },
    )
    expect(loaded.jobs.map((job) => job.id)).toEqual(['good'])
  })

  it('an invalid vars name is one error at the name', async () => {
    await expectOnly(yaml('version: 1', 'vars:', '  ok: 1', '  9lives: x', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]'), {
      rule: 'schema/name',
      line: 4,
      column: 3,
      at: '9lives',
    })
  })

  it('provider settings: baseUrl and apiKeyEnv patterns, concurrency range', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'concurrency: 0', // 2
        'providers:', // 3
        '  toapis:', // 4
        '    baseUrl: ftp://toapis.com', // 5
        '    apiKeyEnv: sk-live-123', // 6
        'recipes:', // 7
        '  hero:', // 8
        '    prompt: hi', // 9
        '    refs: [refs/a.png]', // 10
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/minimum 2:14', 'error schema/pattern 5:14', 'error schema/pattern 6:16'])
    expectDiagnostic(loaded.diagnostics[1], { rule: 'schema/pattern', line: 5, column: 14, at: 'ftp://', hint: /https:\/\// })
    expectDiagnostic(loaded.diagnostics[2], { rule: 'schema/pattern', line: 6, column: 16, at: 'sk-live-123', hint: /never the key itself/ })
    expect(loaded.jobs).toEqual([])
  })
})

describe('layer 3: provider capabilities', () => {
  it('toapis 4k at 1:1 is an error at the `resolution:` value', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  big:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    ratio: "1:1"', // 6
        '    resolution: 4k', // 7
      ),
      {
        rule: 'provider/resolution',
        line: 7,
        column: 17,
        at: '4k',
        message: /toapis cannot make 4k at ratio 1:1/,
        hint: /16:9, 9:16, 2:1, 1:2, 21:9, 9:21.*1k or 2k/,
      },
    )
  })

  it('a resolution set in `defaults` is located in `defaults`', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'defaults:', // 2
        '  resolution: 4k', // 3
        'recipes:', // 4
        '  big:', // 5
        '    prompt: hi', // 6
        '    refs: [refs/a.png]', // 7
      ),
      { rule: 'provider/resolution', line: 3, column: 15, at: '4k' },
    )
  })

  it('a ratio the provider cannot make (aa 16:9) is located at the ratio', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  wide:', '    provider: aa', '    prompt: hi', '    refs: [refs/a.png]', '    ratio: "16:9"'), {
      rule: 'provider/ratio',
      line: 7,
      column: 12,
      at: '"16:9"',
      message: /aa cannot make ratio 16:9/,
      hint: /1:1, 3:2, 2:3/,
    })
  })

  it('webp output: fine on local, an error on toapis', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  on-local:', // 3
        '    provider: local', // 4
        '    prompt: hi', // 5
        '    refs: [refs/a.png]', // 6
        '    format: webp', // 7
        '  on-toapis:', // 8
        '    prompt: hi', // 9
        '    refs: [refs/a.png]', // 10
        '    format: webp', // 11
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error provider/format 11:13'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'provider/format',
      line: 11,
      column: 13,
      at: 'webp',
      message: /toapis cannot output webp/,
      hint: /png or jpeg/,
    })
    expect(loaded.jobs.map((job) => `${job.id} ${job.outputs.join()}`)).toEqual(['on-local generated/on-local.webp'])
  })

  it('`--provider local` turns a toapis-only error into a valid job', async () => {
    const text = yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]', '    format: webp')
    expect((await load(text)).diagnostics.map(summary)).toEqual(['error provider/format 6:13'])
    const local = await load(text, { providerOverride: 'local' })
    expect(local.diagnostics).toEqual([])
    expect(local.jobs.map((job) => [job.provider, job.model])).toEqual([['local', 'local-v1']])
  })

  it('quality auto on toapis is an error at the quality', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]', '    quality: auto'), {
      rule: 'provider/quality',
      line: 6,
      column: 14,
      at: 'auto',
      message: /toapis does not accept quality "auto"/,
      hint: /low, medium, high/,
    })
  })

  it('a transparent background with jpeg output is an error', async () => {
    await expectOnly(
      yaml(
        'version: 1',
        'recipes:',
        '  hero:',
        '    provider: openai',
        '    prompt: hi',
        '    refs: [refs/a.png]',
        '    format: jpeg',
        '    background: transparent',
      ),
      { rule: 'params/transparent-jpeg', line: 8, column: 17, at: 'transparent', hint: /format: png/ },
    )
  })

  it('a transparent background on toapis is a warning, and the job is kept', async () => {
    const loaded = await expectOnly(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png]', '    background: transparent'), {
      rule: 'provider/transparent',
      severity: 'warning',
      line: 6,
      column: 17,
      at: 'transparent',
      message: /silently turns a transparent background into "auto"/,
    })
    expect(loaded.jobs.map((job) => job.id)).toEqual(['hero'])
  })

  it('warnings versus errors: compression on png and an ignored parameter are warnings beside a real error', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  squeezed:', // 3
        '    provider: local', // 4
        '    prompt: hi', // 5
        '    refs: [refs/a.png]', // 6
        '    compression: 80', // 7
        '  faithful:', // 8
        '    prompt: hi', // 9
        '    refs: [refs/a.png]', // 10
        '    inputFidelity: high', // 11
        '  broken:', // 12
        '    prompt: hi', // 13
        '    refs: [refs/a.png]', // 14
        '    quality: auto', // 15
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual([
      'warning params/compression-png 7:18',
      'warning provider/ignored-parameter 11:20',
      'error provider/quality 15:14',
    ])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'params/compression-png', severity: 'warning', line: 7, column: 18, at: '80', hint: /format: jpeg/ })
    expectDiagnostic(loaded.diagnostics[1], {
      rule: 'provider/ignored-parameter',
      severity: 'warning',
      line: 11,
      column: 20,
      at: 'high',
      message: /toapis ignores `inputFidelity`/,
    })
    expectDiagnostic(loaded.diagnostics[2], { rule: 'provider/quality', line: 15, column: 14, at: 'auto' })
    // Warnings do not drop a job; the error drops only its own recipe.
    expect(loaded.jobs.map((job) => job.id)).toEqual(['faithful', 'squeezed'])
  })
})

describe('layer 3: {tokens}', () => {
  it('an unknown token, {stem} without `each`, and an unknown {vars.x} are located at the token', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'vars:', // 2
        '  style: soft', // 3
        'recipes:', // 4
        '  hero:', // 5
        '    prompt: Make it {colour} and {vars.style}', // 6
        '    refs: [refs/a.png]', // 7
        '  single:', // 8
        '    prompt: Place the {stem} on a table', // 9
        '    refs: [refs/a.png]', // 10
        '  moody:', // 11
        '    prompt: "Light: {vars.mood}"', // 12
        '    refs: [refs/a.png]', // 13
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error tokens/unknown 6:21', 'error tokens/unavailable 9:23', 'error tokens/unknown-var 12:21'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'tokens/unknown',
      line: 6,
      column: 21,
      at: '{colour}',
      message: /unknown token \{colour\}/,
      hint: /\{\{ and \}\}/,
    })
    expectDiagnostic(loaded.diagnostics[1], {
      rule: 'tokens/unavailable',
      line: 9,
      column: 23,
      at: '{stem}',
      message: /\{stem\} cannot be used in a prompt/,
      hint: /need `each`/,
    })
    expectDiagnostic(loaded.diagnostics[2], {
      rule: 'tokens/unknown-var',
      line: 12,
      column: 21,
      at: '{vars.mood}',
      message: /not defined in `vars`/,
      hint: /\{vars\.style\}/,
    })
    expect(loaded.jobs).toEqual([])
  })

  it('a token on a later line of a block-scalar prompt is located on that line', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: |', // 4
        '      Make a poster.', // 5
        '      Use the {palete} palette.', // 6
        '    refs: [refs/a.png]', // 7
      ),
      { rule: 'tokens/unknown', line: 6, column: 15, at: '{palete}' },
    )
  })

  it('a token in a ref path, in `each` and in `name`', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  a:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png, "refs/{stem}.png"]', // 5
        '  b:', // 6
        '    each: refs/{stem}/*.jpg', // 7
        '    prompt: hi', // 8
        '    refs: ["{file}"]', // 9
        '  c:', // 10
        '    prompt: hi', // 11
        '    refs: [refs/a.png]', // 12
        '    name: "{stem}-{idx}.{ext}"', // 13
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual([
      'error tokens/unavailable 5:30',
      'error tokens/unavailable 7:16',
      'error tokens/unavailable 13:12',
      'error tokens/unknown 13:19',
    ])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'tokens/unavailable', line: 5, column: 30, at: '{stem}.png', message: /a ref path/ })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'tokens/unavailable', line: 7, column: 16, at: '{stem}/', hint: /Only \{recipe\} and \{vars\.name\}/ })
    expectDiagnostic(loaded.diagnostics[2], { rule: 'tokens/unavailable', line: 13, column: 12, at: '{stem}-', message: /name/ })
    expectDiagnostic(loaded.diagnostics[3], { rule: 'tokens/unknown', line: 13, column: 19, at: '{idx}', message: /unknown token \{idx\} in `name`/ })
    // A recipe whose output name cannot be built yields no job.
    expect(loaded.jobs).toEqual([])
  })
})

describe('layer 3: files', () => {
  it('a missing ref, with a "did you mean" for a near name', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png, refs/portrait.png]', // 5
      ),
      {
        rule: 'ref/missing',
        line: 5,
        column: 24,
        at: 'refs/portrait.png',
        message: /refs\/portrait\.png does not exist/,
        hint: /^Did you mean refs\/portrait\.jpg\?/,
      },
    )
  })

  it('a ref that is a folder', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/products]'), {
      rule: 'ref/missing',
      line: 5,
      column: 12,
      at: 'refs/products',
      message: /is not a file/,
    })
  })

  it('a text file named .png, and an empty .png, are not images', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  hero:', // 3
        '    prompt: hi', // 4
        '    refs:', // 5
        '      - refs/fake.png', // 6
        '      - refs/empty.png', // 7
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error ref/not-image 6:9', 'error ref/not-image 7:9'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'ref/not-image',
      line: 6,
      column: 9,
      at: 'refs/fake.png',
      message: /not an image/,
      hint: /PNG, JPEG or WebP/,
    })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'ref/not-image', line: 7, column: 9, at: 'refs/empty.png' })
  })

  it('a gif ref is refused; a webp ref is accepted', async () => {
    const loaded = await load(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/c.webp, refs/anim.gif]'))
    expect(loaded.diagnostics.map(summary)).toEqual(['error ref/format 5:25'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'ref/format',
      line: 5,
      column: 25,
      at: 'refs/anim.gif',
      message: /is gif; toapis takes png, jpeg, webp/,
      hint: /Convert/,
    })
  })

  it('an http (not https) URL ref', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  hero:', '    prompt: hi', '    refs: [refs/a.png, "http://example.com/a.png"]'), {
      rule: 'ref/url',
      line: 5,
      column: 24,
      at: '"http://example.com/a.png"',
      hint: /https:\/\//,
    })
  })

  it('masks: a JPEG, one without alpha, one of the wrong size, a missing one — and a good one', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  jpeg:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    mask: masks/mask.jpg', // 6
        '  opaque:', // 7
        '    prompt: hi', // 8
        '    refs: [refs/a.png]', // 9
        '    mask: masks/noalpha.png', // 10
        '  sized:', // 11
        '    prompt: hi', // 12
        '    refs: [refs/a.png, refs/products/can.jpg]', // 13
        '    mask: masks/small.png', // 14
        '  gone:', // 15
        '    prompt: hi', // 16
        '    refs: [refs/a.png]', // 17
        '    mask: masks/nope.png', // 18
        '  good:', // 19
        '    prompt: hi', // 20
        '    refs: [refs/a.png]', // 21
        '    mask: masks/ok.png', // 22
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual([
      'error mask/not-png 6:11',
      'error mask/no-alpha 10:11',
      'error mask/size 14:11',
      'error mask/missing 18:11',
    ])
    expectDiagnostic(loaded.diagnostics[0], { rule: 'mask/not-png', line: 6, column: 11, at: 'masks/mask.jpg', message: /is jpeg, not PNG/, hint: /alpha/ })
    expectDiagnostic(loaded.diagnostics[1], { rule: 'mask/no-alpha', line: 10, column: 11, at: 'masks/noalpha.png', message: /no alpha channel/ })
    expectDiagnostic(loaded.diagnostics[2], {
      rule: 'mask/size',
      line: 14,
      column: 11,
      at: 'masks/small.png',
      message: /32×24 but the first ref refs\/a\.png is 64×48/,
      hint: /Resize the mask to 64×48/,
    })
    expectDiagnostic(loaded.diagnostics[3], { rule: 'mask/missing', line: 18, column: 11, at: 'masks/nope.png', message: /does not exist/ })
    // The valid recipe is kept even though the others fail (they are checked concurrently).
    expect(loaded.jobs.map((job) => job.id)).toEqual(['good'])
  })

  it('a mask over the provider limit (openai: under 4 MiB)', async () => {
    const { dir, cleanup: remove } = await tempDir('images-edit-big-mask-')
    try {
      // Uncompressed RGBA: 1024 × 1024 × 4 bytes is 4 MiB before any PNG overhead.
      const pixels = Buffer.alloc(1024 * 1024 * 4, 255)
      await writeFiles(dir, {
        'ref.png': await makeImage({ width: 1024, height: 1024 }),
        'mask.png': await sharp(pixels, { raw: { width: 1024, height: 1024, channels: 4 } })
          .png({ compressionLevel: 0 })
          .toBuffer(),
        'images.edit.yaml': yaml('version: 1', 'recipes:', '  hero:', '    provider: openai', '    prompt: hi', '    refs: [ref.png]', '    mask: mask.png'),
      })
      const loaded = await loadManifest(join(dir, 'images.edit.yaml'), { fileIndex: new FileIndex(dir, undefined) })
      expect(loaded.diagnostics.map(summary)).toEqual(['error mask/too-large 7:11'])
      expect(loaded.diagnostics[0]?.message).toMatch(/openai takes at most 4\.0 MiB/)
      expect(loaded.diagnostics[0]?.hint).toMatch(/\S/)
    } finally {
      await remove()
    }
  })

  it('a ref over the provider limit (aa: 15 MiB)', async () => {
    const { dir, cleanup: remove } = await tempDir('images-edit-big-ref-')
    try {
      const pixels = Buffer.alloc(2000 * 2000 * 4, 128)
      await writeFiles(dir, {
        'big.png': await sharp(pixels, { raw: { width: 2000, height: 2000, channels: 4 } })
          .png({ compressionLevel: 0 })
          .toBuffer(),
        'images.edit.yaml': yaml('version: 1', 'recipes:', '  hero:', '    provider: aa', '    prompt: hi', '    refs: [big.png]'),
      })
      const loaded = await loadManifest(join(dir, 'images.edit.yaml'), { fileIndex: new FileIndex(dir, undefined) })
      expect(loaded.diagnostics.map(summary)).toEqual(['error ref/too-large 6:12'])
      expect(loaded.diagnostics[0]?.message).toMatch(/aa takes at most 15\.0 MiB per reference/)
    } finally {
      await remove()
    }
  })

  it('an `each` glob that matches nothing', async () => {
    await expectOnly(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  product:', // 3
        '    each: refs/products/*.webp', // 4
        '    prompt: hi {stem}', // 5
        '    refs: ["{file}"]', // 6
      ),
      { rule: 'each/no-match', line: 4, column: 11, at: 'refs/products/*.webp', message: /matches no file/, hint: /relative to the manifest folder/ },
    )
  })

  it('a bad file in one fan-out job is reported for that file', async () => {
    const loaded = await load(
      yaml('version: 1', 'recipes:', '  p:', '    each: refs/products/*.jpg', '    prompt: hi', '    refs: ["{file}"]', '    mask: masks/ok.png'),
    )
    // Every product is 32×32 and the mask is 64×48: one error per fan-out file, at the mask.
    expect(loaded.diagnostics.map(summary)).toEqual(['error mask/size 7:11', 'error mask/size 7:11'])
    expect(loaded.diagnostics.map((diagnostic) => diagnostic.message).sort()).toEqual([
      expect.stringMatching(/\(for refs\/products\/bottle\.jpg\)$/),
      expect.stringMatching(/\(for refs\/products\/can\.jpg\)$/),
    ])
  })
})

describe('layer 3: output names', () => {
  it('two recipes with the same `name` collide: reported at the second', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  one:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    name: shared.png', // 6
        '  two:', // 7
        '    prompt: hi', // 8
        '    refs: [refs/b.jpg]', // 9
        '    name: shared.png', // 10
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error name/duplicate 10:11'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'name/duplicate',
      line: 10,
      column: 11,
      at: 'shared.png',
      message: /produced by both one and two/,
      hint: /different names/,
    })
  })

  it('a fan-out whose name lacks {stem} collides with itself', async () => {
    await expectOnly(
      yaml('version: 1', 'recipes:', '  p:', '    each: refs/products/*.jpg', '    prompt: hi', '    refs: ["{file}"]', '    name: product.{ext}'),
      {
        rule: 'name/duplicate',
        line: 7,
        column: 11,
        at: 'product.{ext}',
        hint: /\{stem\}/,
      },
    )
  })

  it('n: 3 with a name lacking {index}', async () => {
    await expectOnly(yaml('version: 1', 'recipes:', '  three:', '    prompt: hi', '    refs: [refs/a.png]', '    n: 3', '    name: three.{ext}'), {
      rule: 'name/missing-index',
      line: 7,
      column: 11,
      at: 'three.{ext}',
      message: /n is 3 but `name` has no \{index\}/,
      hint: /\{index\}/,
    })
  })

  it('names escaping `out` via ../ or an absolute path', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'out: dist', // 2
        'recipes:', // 3
        '  up:', // 4
        '    prompt: hi', // 5
        '    refs: [refs/a.png]', // 6
        '    name: ../../escape.{ext}', // 7
        '  root:', // 8
        '    prompt: hi', // 9
        '    refs: [refs/a.png]', // 10
        '    name: /tmp/escape.{ext}', // 11
        '  sneaky:', // 12
        '    prompt: hi', // 13
        '    refs: [refs/a.png]', // 14
        '    name: sub/../../dist2/x.{ext}', // 15
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error name/outside-out 7:11', 'error name/outside-out 11:11', 'error name/outside-out 15:11'])
    expectDiagnostic(loaded.diagnostics[0], {
      rule: 'name/outside-out',
      line: 7,
      column: 11,
      at: '../../escape',
      message: /outside the output folder dist/,
      hint: /relative to `out`/,
    })
    expect(loaded.jobs).toEqual([])
  })
})

describe('every problem is reported at once', () => {
  it('three different errors in three recipes give three diagnostics, in manifest order', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  a:', // 3
        '    prompt: hi', // 4
        '    refs: [refs/a.png]', // 5
        '    ratio: "7:3"', // 6
        '  b:', // 7
        '    prompt: hi', // 8
        '    refs: [refs/missing.png]', // 9
        '  c:', // 10
        '    prompt: hi {colour}', // 11
        '    refs: [refs/a.png]', // 12
        '  d:', // 13
        '    prompt: fine', // 14
        '    refs: [refs/a.png]', // 15
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/enum 6:12', 'error ref/missing 9:12', 'error tokens/unknown 11:16'])
    for (const diagnostic of loaded.diagnostics) expect(diagnostic.hint).toMatch(/\S/)
    expect(loaded.jobs.map((job) => job.id)).toEqual(['d'])
  })

  it('a mask problem hides neither a name outside `out` nor {stem} without `each` (one pass, not one fix at a time)', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'recipes:', // 2
        '  mug:', // 3
        '    prompt: Put the {stem} on a mug', // 4
        '    refs: [refs/a.png]', // 5
        '    mask: refs/b.jpg', // 6
        '    name: "../escape.png"', // 7
        '  cup:', // 8
        '    prompt: hi', // 9
        '    refs: [refs/a.png]', // 10
        '    mask: masks/nope.png', // 11
        '    name: ../../cup.png', // 12
      ),
    )
    expect(loaded.diagnostics.map(summary)).toEqual([
      'error tokens/unavailable 4:21',
      'error mask/not-png 6:11',
      'error name/outside-out 7:11',
      'error mask/missing 11:11',
      'error name/outside-out 12:11',
    ])
    expect(loaded.jobs).toEqual([])
  })

  it('a schema error hides only what depends on its value; a bad `out` hides no recipe problem', async () => {
    const loaded = await load(
      yaml(
        'version: 1', // 1
        'out: ../elsewhere', // 2
        'concurrency: 0', // 3
        'recipes:', // 4
        '  a:', // 5
        '    prompt: hi {colour}', // 6
        '    refs: [refs/a.png, refs/nope.png]', // 7
        '    n: 99', // 8
        '    ratio: "7:3"', // 9
        '    resolution: 4k', // 10
        '    quality: auto', // 11
      ),
    )
    // `resolution: 4k` is not judged: whether it is possible depends on the invalid ratio.
    expect(loaded.diagnostics.map(summary)).toEqual([
      'error out/outside-project 2:6',
      'error schema/minimum 3:14',
      'error tokens/unknown 6:16',
      'error ref/missing 7:24',
      'error schema/maximum 8:8',
      'error schema/enum 9:12',
      'error provider/quality 11:14',
    ])
  })

  it('a schema error outside the recipes still lets every schema error be reported', async () => {
    const loaded = await load(yaml('version: 3', 'out: ""', 'recipes:', '  a:', '    prompt: hi', '    refs: [refs/a.png]', '    n: 99'))
    expect(loaded.diagnostics.map(summary)).toEqual(['error schema/const 1:10', 'error schema/minLength 2:6', 'error schema/maximum 7:8'])
  })
})

describe('robustness', () => {
  const valid = yaml(
    'version: 1',
    'out: dist',
    'vars:',
    '  style: "soft light"',
    'defaults:',
    '  provider: toapis',
    '  ratio: "1:1"',
    'recipes:',
    '  hero:',
    '    prompt: Poster in {vars.style}',
    '    refs: [refs/a.png, refs/portrait.jpg]',
    '    ratio: "16:9"',
    '    resolution: 4k',
    '    n: 2',
    '  sky:',
    "    prompt: 'Starry sky'",
    '    refs:',
    '      - refs/a.png',
    '    mask: masks/ok.png',
    '  product:',
    '    each: refs/products/*.jpg',
    '    prompt: |',
    '      Place the {stem} on marble',
    '    refs: ["{file}", refs/b.jpg]',
    '    name: products/{stem}-{index}.{ext}',
  )

  /** mulberry32: a small seeded PRNG so a failure can be reproduced. */
  function random(seed: number): () => number {
    let state = seed >>> 0
    return () => {
      state = (state + 0x6d2b79f5) >>> 0
      let t = state
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }

  const noise = [':', '-', '[', ']', '{', '}', '"', "'", '\t', '\n', '\r', ' ', '#', '&', '*', '!', '|', '>', ',', '?', '%', '@', '`', 'x', '1', '\\']
  const words = ['\u00e9', '../', '{index}', '{stem}', '<<', '~', 'null', '0x1', '.', '*a', '&a ']

  function mutate(text: string, next: () => number): string {
    let result = text
    const edits = 1 + Math.floor(next() * 5)
    for (let edit = 0; edit < edits; edit++) {
      const at = Math.floor(next() * result.length)
      const choice = next()
      if (choice < 0.3) result = result.slice(0, at) + result.slice(at + 1 + Math.floor(next() * 3))
      else if (choice < 0.5) result = result.slice(0, at) + result.charAt(at) + result.slice(at)
      else if (choice < 0.75) result = result.slice(0, at) + (noise[Math.floor(next() * noise.length)] ?? '') + result.slice(at)
      else if (choice < 0.9) result = result.slice(0, at) + (words[Math.floor(next() * words.length)] ?? '') + result.slice(at)
      else {
        const lines = result.split('\n')
        const from = Math.floor(next() * lines.length)
        const [line] = lines.splice(from, 1)
        lines.splice(Math.floor(next() * lines.length), 0, line ?? '')
        result = lines.join('\n')
      }
    }
    return result
  }

  it('the base manifest of the fuzz test is valid', async () => {
    const loaded = await load(valid)
    expect(loaded.diagnostics).toEqual([])
    expect(loaded.jobs.length).toBe(4)
  })

  it('hundreds of mutated manifests never throw: always located diagnostics or jobs', async () => {
    const next = random(20240611)
    const fileIndex = new FileIndex(project, undefined)
    const file = join(project, 'fuzz.edit.yaml')
    for (let round = 0; round < 400; round++) {
      const mutated = mutate(valid, next)
      // A third of the rounds use Windows line endings.
      let bytes: Buffer = Buffer.from(round % 3 === 0 ? mutated.replace(/\r?\n/g, '\r\n') : mutated, 'utf8')
      // Now and then, corrupt a raw byte too (invalid UTF-8, NUL, …).
      if (round % 25 === 0) {
        bytes = Buffer.from(bytes)
        bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256)
      }
      await writeFile(file, bytes)
      const context = `round ${round}:\n${bytes.toString('utf8')}`
      let loaded: LoadedManifest
      try {
        loaded = await loadManifest(file, { fileIndex })
      } catch (error) {
        throw new Error(`loadManifest threw on ${context}\n${(error as Error).stack}`)
      }
      expect(loaded.diagnostics.length + loaded.jobs.length, context).toBeGreaterThan(0)
      const lineCount = loaded.source.lines.length
      for (const diagnostic of loaded.diagnostics) {
        expect(diagnostic.line, context).toBeGreaterThanOrEqual(1)
        expect(diagnostic.line, context).toBeLessThanOrEqual(Math.max(1, lineCount))
        expect(diagnostic.column, context).toBeGreaterThanOrEqual(1)
        expect(diagnostic.column, `${context}\n${formatDiagnostic(diagnostic)}`).toBeLessThanOrEqual((diagnostic.sourceLine ?? '').length + 1)
        expect(diagnostic.rule, context).toMatch(/^[a-z]+\/[a-z_-]+$/i)
        expect(diagnostic.message, context).toMatch(/\S/)
        expect(diagnostic.sourceLine, context).toBeDefined()
        if (diagnostic.severity === 'error') expect(diagnostic.hint, `${context}\n${formatDiagnostic(diagnostic)}`).toMatch(/\S/)
        expect(() => formatDiagnostic(diagnostic)).not.toThrow()
      }
      // Jobs are only produced for recipes without errors: their outputs stay inside `out`.
      for (const job of loaded.jobs) {
        for (const output of job.outputs) expect(relative(loaded.outDir, join(loaded.root, output)), context).not.toMatch(/^\.\.|^$/)
      }
    }
  })
})
