/**
 * Validation reports every independent problem in one pass (issue 10, point 7).
 *
 * A catalogue holds one recipe-level problem of every kind the manifest layer can emit, with the
 * fields it writes and the facts its check depends on. From it:
 *
 * - one manifest with every kind (each in a recipe of its own) and every top-level kind: all of
 *   them are reported by one `loadManifest`, each at its own file:line:col;
 * - the same with a broken `out` (outside the project, then reserved), and with an empty `recipes`;
 * - every pair of independent kinds inside ONE recipe: both are reported, and nothing else;
 * - every rule id written in the manifest sources (and every keyword of the schema) is reported
 *   by one of the above, or is listed below as unable to coexist, with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, makeMask, tempDir, writeFiles } from '../../../../test/helpers.js'
import { type Diagnostic, formatDiagnostic } from '../diagnostics.js'
import { FileIndex } from '../hash/file-index.js'
import { capabilitiesOf, defaultModels } from '../providers/capabilities.js'
import type { ProviderId } from '../providers/provider.js'
import { type LoadedManifest, loadManifest } from './load-manifest.js'

const here = dirname(fileURLToPath(import.meta.url))

/** One problem of one kind in a recipe. */
interface Kind {
  name: string
  /**
   * Recipe fields it writes, as YAML lines (4-space indented by the builder; `@` becomes the recipe
   * id, so that many recipes of one manifest do not share an output); an empty list removes the field.
   */
  fields: Record<string, string[]>
  /** Facts its check depends on besides its own fields: a field's value, `refs0` (a sound first ref), `no-each`. */
  needs?: string[]
  /** Facts it makes unknown besides its own fields. */
  breaks?: string[]
  /** The recipe id is invalid: written with this suffix (`p7 bad!`). */
  badId?: boolean
  /** What is reported: rule, and where (`field` + line offset in its lines + text on that line; no field: at the recipe id). */
  expect: { rule: string; field?: string; line?: number; at?: string; severity?: 'warning' }[]
}

const BASE: Record<string, string[]> = { prompt: ['prompt: hi'], refs: ['refs: [refs/a.png]'] }

const seventeen = Array.from({ length: 17 }, () => '  - refs/a.png')

const KINDS: Kind[] = [
  // Layer 1 problems that leave the value well defined.
  { name: 'yaml duplicate key', fields: { seed: ['seed: 1', 'seed: 2'] }, expect: [{ rule: 'yaml/duplicate_key', field: 'seed', line: 1, at: 'seed' }] },
  { name: 'yaml collection key', fields: { '?': ['? [a, b]', ': 1'] }, expect: [{ rule: 'yaml/collection-key', field: '?', at: '[a, b]' }] },
  {
    name: 'yaml unresolved tag',
    fields: { model: ['model: !custom gpt-image-1.5-official'] },
    expect: [{ rule: 'yaml/tag_resolve_failed', field: 'model', at: '!custom', severity: 'warning' }],
  },
  // Layer 2.
  { name: 'unknown field', fields: { colour: ['colour: red'] }, expect: [{ rule: 'schema/unknown-field', field: 'colour', at: 'colour' }] },
  { name: 'missing prompt', fields: { prompt: [] }, expect: [{ rule: 'schema/required' }] },
  { name: 'ratio enum', fields: { ratio: ['ratio: "7:3"'] }, expect: [{ rule: 'schema/enum', field: 'ratio', at: '"7:3"' }] },
  { name: 'n type', fields: { n: ['n: "3"'] }, expect: [{ rule: 'schema/type', field: 'n', at: '"3"' }] },
  { name: 'n minimum', fields: { n: ['n: 0'] }, expect: [{ rule: 'schema/minimum', field: 'n', at: '0' }] },
  { name: 'compression maximum', fields: { compression: ['compression: 101'] }, expect: [{ rule: 'schema/maximum', field: 'compression', at: '101' }] },
  { name: 'no refs', fields: { refs: ['refs: []'] }, breaks: ['refs0'], expect: [{ rule: 'schema/minItems', field: 'refs', at: '[]' }] },
  { name: '17 refs', fields: { refs: ['refs:', ...seventeen] }, expect: [{ rule: 'schema/maxItems', field: 'refs', line: 17, at: 'refs/a.png' }] },
  { name: 'empty model', fields: { model: ['model: ""'] }, expect: [{ rule: 'schema/minLength', field: 'model', at: '""' }] },
  {
    name: 'prompt too long',
    fields: { prompt: [`prompt: ${'x'.repeat(32_001)}`] },
    expect: [{ rule: 'schema/maxLength', field: 'prompt', at: 'xxx' }],
  },
  { name: 'seed a map', fields: { seed: ['seed: {x: 1}'] }, expect: [{ rule: 'schema/type', field: 'seed', at: '{x: 1}' }] },
  { name: 'provider enum', fields: { provider: ['provider: dalle'] }, expect: [{ rule: 'schema/enum', field: 'provider', at: 'dalle' }] },
  { name: 'format enum', fields: { format: ['format: gif'] }, expect: [{ rule: 'schema/enum', field: 'format', at: 'gif' }] },
  { name: 'bad recipe id', fields: {}, badId: true, expect: [{ rule: 'schema/name' }] },
  // Layer 3: capabilities.
  {
    name: '4k at 1:1',
    fields: { resolution: ['resolution: 4k'] },
    needs: ['provider', 'ratio'],
    expect: [{ rule: 'provider/resolution', field: 'resolution', at: '4k' }],
  },
  {
    name: 'aa 16:9',
    fields: { provider: ['provider: aa'], ratio: ['ratio: "16:9"'] },
    expect: [{ rule: 'provider/ratio', field: 'ratio', at: '"16:9"' }],
  },
  { name: 'toapis webp', fields: { format: ['format: webp'] }, needs: ['provider'], expect: [{ rule: 'provider/format', field: 'format', at: 'webp' }] },
  {
    name: 'toapis quality auto',
    fields: { quality: ['quality: auto'] },
    needs: ['provider'],
    expect: [{ rule: 'provider/quality', field: 'quality', at: 'auto' }],
  },
  {
    name: 'transparent jpeg',
    fields: { provider: ['provider: openai'], format: ['format: jpeg'], background: ['background: transparent'] },
    expect: [{ rule: 'params/transparent-jpeg', field: 'background', at: 'transparent' }],
  },
  {
    name: 'toapis transparent',
    fields: { background: ['background: transparent'] },
    needs: ['provider', 'format'],
    expect: [{ rule: 'provider/transparent', field: 'background', at: 'transparent', severity: 'warning' }],
  },
  {
    name: 'toapis ignores inputFidelity',
    fields: { inputFidelity: ['inputFidelity: high'] },
    needs: ['provider'],
    expect: [{ rule: 'provider/ignored-parameter', field: 'inputFidelity', at: 'high', severity: 'warning' }],
  },
  {
    name: 'compression on png',
    fields: { compression: ['compression: 80'] },
    needs: ['format'],
    expect: [{ rule: 'params/compression-png', field: 'compression', at: '80', severity: 'warning' }],
  },
  // Layer 3: tokens and `each`.
  { name: 'unknown token', fields: { prompt: ['prompt: hi {colour}'] }, expect: [{ rule: 'tokens/unknown', field: 'prompt', at: '{colour}' }] },
  {
    name: '{stem} without each',
    fields: { prompt: ['prompt: hi {stem}'] },
    needs: ['no-each'],
    expect: [{ rule: 'tokens/unavailable', field: 'prompt', at: '{stem}' }],
  },
  { name: 'unknown var', fields: { prompt: ['prompt: hi {vars.nope}'] }, expect: [{ rule: 'tokens/unknown-var', field: 'prompt', at: '{vars.nope}' }] },
  {
    name: 'token in a ref',
    fields: { refs: ['refs: [refs/a.png, "refs/{colour}.png"]'] },
    expect: [{ rule: 'tokens/unknown', field: 'refs', at: '{colour}' }],
  },
  { name: 'token in the mask', fields: { mask: ['mask: "masks/{colour}.png"'] }, expect: [{ rule: 'tokens/unknown', field: 'mask', at: '{colour}' }] },
  { name: 'token in the name', fields: { name: ['name: "{idx}.png"'] }, expect: [{ rule: 'tokens/unknown', field: 'name', at: '{idx}' }] },
  {
    name: 'token in each',
    fields: { each: ['each: "refs/{stem}/*.png"'] },
    breaks: ['no-each'],
    expect: [{ rule: 'tokens/unavailable', field: 'each', at: '{stem}' }],
  },
  {
    name: 'each matches nothing',
    fields: { each: ['each: refs/none/*.png'] },
    breaks: ['no-each'],
    expect: [{ rule: 'each/no-match', field: 'each', at: 'refs/none' }],
  },
  // Layer 3: files.
  {
    name: 'missing ref',
    fields: { refs: ['refs: [refs/nope.png]'] },
    breaks: ['refs0'],
    expect: [{ rule: 'ref/missing', field: 'refs', at: 'refs/nope.png' }],
  },
  { name: 'text ref', fields: { refs: ['refs: [refs/fake.png]'] }, breaks: ['refs0'], expect: [{ rule: 'ref/not-image', field: 'refs', at: 'refs/fake.png' }] },
  {
    name: 'http ref',
    fields: { refs: ['refs: ["http://example.com/a.png"]'] },
    breaks: ['refs0'],
    expect: [{ rule: 'ref/url', field: 'refs', at: '"http' }],
  },
  {
    name: 'ref outside',
    fields: { refs: ['refs: [../outside.png]'] },
    breaks: ['refs0'],
    expect: [{ rule: 'ref/outside-project', field: 'refs', at: '../outside.png' }],
  },
  {
    name: 'gif ref',
    fields: { refs: ['refs: [refs/anim.gif]'] },
    needs: ['provider'],
    breaks: ['refs0'],
    expect: [{ rule: 'ref/format', field: 'refs', at: 'refs/anim.gif' }],
  },
  {
    name: 'ref too many pixels',
    fields: { refs: ['refs: [refs/huge.png]'] },
    breaks: ['refs0'],
    expect: [{ rule: 'ref/too-many-pixels', field: 'refs', at: 'refs/huge.png' }],
  },
  {
    name: 'ref too large for aa',
    fields: { provider: ['provider: aa'], refs: ['refs: [refs/big.png]'] },
    breaks: ['refs0'],
    expect: [{ rule: 'ref/too-large', field: 'refs', at: 'refs/big.png' }],
  },
  { name: 'missing mask', fields: { mask: ['mask: masks/nope.png'] }, expect: [{ rule: 'mask/missing', field: 'mask', at: 'masks/nope.png' }] },
  { name: 'jpeg mask', fields: { mask: ['mask: masks/mask.jpg'] }, expect: [{ rule: 'mask/not-png', field: 'mask', at: 'masks/mask.jpg' }] },
  { name: 'mask without alpha', fields: { mask: ['mask: masks/noalpha.png'] }, expect: [{ rule: 'mask/no-alpha', field: 'mask', at: 'masks/noalpha.png' }] },
  {
    name: 'mask of another size',
    fields: { mask: ['mask: masks/small.png'] },
    needs: ['refs0'],
    expect: [{ rule: 'mask/size', field: 'mask', at: 'masks/small.png' }],
  },
  { name: 'http mask', fields: { mask: ['mask: "http://example.com/m.png"'] }, expect: [{ rule: 'mask/url', field: 'mask', at: '"http' }] },
  {
    name: 'mask outside',
    fields: { mask: ['mask: ../outside-mask.png'] },
    expect: [{ rule: 'mask/outside-project', field: 'mask', at: '../outside-mask.png' }],
  },
  { name: 'text mask', fields: { mask: ['mask: masks/fake.png'] }, expect: [{ rule: 'mask/not-image', field: 'mask', at: 'masks/fake.png' }] },
  {
    name: 'mask too many pixels',
    fields: { mask: ['mask: masks/huge.png'] },
    expect: [{ rule: 'mask/too-many-pixels', field: 'mask', at: 'masks/huge.png' }],
  },
  {
    name: 'mask too large for openai',
    fields: { provider: ['provider: openai'], refs: ['refs: [refs/r1024.png]'], mask: ['mask: masks/big.png'] },
    expect: [{ rule: 'mask/too-large', field: 'mask', at: 'masks/big.png' }],
  },
  // Layer 3: output names (`out: .` in the fixture project).
  { name: 'name outside out', fields: { name: ['name: ../escape-@.png'] }, expect: [{ rule: 'name/outside-out', field: 'name', at: '../escape-' }] },
  {
    name: 'n 3 without {index}',
    fields: { n: ['n: 3'], name: ['name: three-@.{ext}'] },
    expect: [{ rule: 'name/missing-index', field: 'name', at: 'three' }],
  },
  { name: 'duplicate name', fields: { name: ['name: shared.png'] }, expect: [{ rule: 'name/duplicate', field: 'name', at: 'shared.png' }] },
  {
    name: 'reserved name',
    fields: { name: ['name: .git/@.png'] },
    needs: ['out'],
    expect: [{ rule: 'name/reserved', field: 'name', at: '.git/' }],
  },
  {
    name: 'name through a link out',
    fields: { name: ['name: outside-link/@.png'] },
    needs: ['out'],
    expect: [{ rule: 'name/outside-project', field: 'name', at: 'outside-link' }],
  },
]

/** The recipe every manifest has, first by id: `duplicate name` collides with it. */
const COMPANION = ['  aaa-companion:', '    prompt: fine', '    refs: [refs/a.png]', '    name: shared.png']

/** Top-level problems (none of which any recipe check depends on), with where they are reported. */
const TOP_LEVEL: { lines: string[]; expect: { rule: string; line: number; at: string }[] } = {
  lines: [
    'version: 2',
    'colour: red',
    'concurrency: "8"',
    'budget: { maxImagesPerRun: -1 }',
    'providers:',
    '  toapis:',
    '    baseUrl: ftp://toapis.example',
    'vars:',
    '  9lives: x',
    '  list: [1]',
    'defaults:',
    '  moderation: loud',
  ],
  expect: [
    { rule: 'schema/const', line: 0, at: '2' },
    { rule: 'schema/unknown-field', line: 1, at: 'colour' },
    { rule: 'schema/type', line: 2, at: '"8"' },
    { rule: 'schema/minimum', line: 3, at: '-1' },
    { rule: 'schema/pattern', line: 6, at: 'ftp://' },
    { rule: 'schema/name', line: 8, at: '9lives' },
    { rule: 'schema/type', line: 9, at: '[1]' },
    { rule: 'schema/enum', line: 11, at: 'loud' },
  ],
}

interface Expected {
  rule: string
  severity: 'error' | 'warning'
  line: number
  column: number
  /** For failure messages. */
  what: string
}

/** Builds a manifest and where each problem must be reported. */
class ManifestBuilder {
  readonly lines: string[] = []
  readonly expected: Expected[] = []
  /** Recipe id → its line range [first, end), 0-based. */
  readonly ranges = new Map<string, [number, number]>()

  top(lines: string[], expected: { rule: string; line: number; at: string }[] = []): this {
    const start = this.lines.length
    this.lines.push(...lines)
    for (const item of expected) this.expect(item.rule, 'error', start + item.line, item.at, `top level ${item.rule}`)
    return this
  }

  /** A recipe made of the base fields with each kind's fields laid over them. */
  recipe(id: string, kinds: Kind[]): this {
    const fields: Record<string, string[]> = { ...BASE }
    for (const kind of kinds) Object.assign(fields, kind.fields)
    const badId = kinds.some((kind) => kind.badId)
    const start = this.lines.length
    this.lines.push(badId ? `  "${id} bad!":` : `  ${id}:`)
    const fieldLine = new Map<string, number>()
    for (const [name, lines] of Object.entries(fields)) {
      if (lines.length === 0) continue
      fieldLine.set(name, this.lines.length)
      this.lines.push(...lines.map((line) => `    ${line.replaceAll('@', id)}`))
    }
    this.ranges.set(id, [start, this.lines.length])
    for (const kind of kinds) {
      for (const item of kind.expect) {
        const line = item.field === undefined ? start : (fieldLine.get(item.field) as number) + (item.line ?? 0)
        this.expect(item.rule, item.severity ?? 'error', line, item.at, `${kind.name} (recipe ${id})`)
      }
    }
    return this
  }

  /** `at` undefined: where the line's text starts (a recipe id). */
  private expect(rule: string, severity: 'error' | 'warning', line: number, at: string | undefined, what: string): void {
    const text = this.lines[line] as string
    const column = at === undefined ? text.search(/\S/) + 1 : text.indexOf(at) + 1
    if (column === 0) throw new Error(`fixture bug: ${JSON.stringify(at)} is not on line ${line + 1} (${text.slice(0, 80)}) for ${what}`)
    this.expected.push({ rule, severity, line: line + 1, column, what })
  }

  text(): string {
    return `${this.lines.join('\n')}\n`
  }
}

let root: string
let project: string
let cleanup: () => Promise<void>
let fileIndex: FileIndex
let counter = 0

/** A PNG whose header claims `width`×`height` (no pixel data). */
function hugeHeaderPng(width: number, height: number): Buffer {
  const png = Buffer.alloc(8 + 25 + 12)
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(png, 0)
  png.writeUInt32BE(13, 8)
  png.write('IHDR', 12, 'latin1')
  png.writeUInt32BE(width, 16)
  png.writeUInt32BE(height, 20)
  png[24] = 8
  png[25] = 6
  png.writeUInt32BE(0, 37)
  png.write('IDAT', 37, 'latin1')
  return png
}

beforeAll(async () => {
  const temp = await tempDir('images-edit-every-problem-')
  root = temp.dir
  cleanup = temp.cleanup
  project = join(root, 'project')
  const outside = join(root, 'outside-folder')
  await mkdir(outside, { recursive: true })
  const image = await makeImage({ width: 64, height: 48 })
  await writeFiles(root, { 'outside.png': image, 'outside-mask.png': await makeMask(64, 48) })
  // Uncompressed RGBA: over aa's 15 MiB per ref, and over openai's 4 MiB per mask.
  const bigRef = await sharp(Buffer.alloc(2000 * 2000 * 4, 128), { raw: { width: 2000, height: 2000, channels: 4 } })
    .png({ compressionLevel: 0 })
    .toBuffer()
  const bigMask = await sharp(Buffer.alloc(1024 * 1024 * 4, 255), { raw: { width: 1024, height: 1024, channels: 4 } })
    .png({ compressionLevel: 0 })
    .toBuffer()
  await writeFiles(project, {
    'refs/a.png': image,
    'refs/fake.png': 'I am a text file wearing a .png name\n',
    'refs/anim.gif': await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .gif()
      .toBuffer(),
    'refs/huge.png': hugeHeaderPng(100_000, 100_000),
    'refs/big.png': bigRef,
    'refs/r1024.png': await makeImage({ width: 1024, height: 1024 }),
    'masks/small.png': await makeMask(32, 24),
    'masks/noalpha.png': await makeImage({ width: 64, height: 48 }),
    'masks/mask.jpg': await makeImage({ width: 64, height: 48, format: 'jpeg' }),
    'masks/fake.png': 'not a mask\n',
    'masks/huge.png': hugeHeaderPng(100_000, 100_000),
    'masks/big.png': bigMask,
  })
  await symlink(outside, join(project, 'outside-link'))
  // One stat cache for every load, as one CLI run keeps one: the big files are hashed once.
  fileIndex = new FileIndex(project, undefined)
}, 60_000)

afterAll(async () => {
  await cleanup()
})

async function load(text: string): Promise<LoadedManifest> {
  counter++
  const file = join(project, `case-${counter}.edit.yaml`)
  await writeFile(file, text)
  fileIndex.beginPass()
  return loadManifest(file, { fileIndex })
}

const show = (item: { severity: string; rule: string; line: number; column: number }) => `${item.severity} ${item.rule} ${item.line}:${item.column}`

/** Every expected problem is reported at its line:col, with a hint and a located rendering; nothing else is. */
function expectExactly(loaded: LoadedManifest, expected: Expected[]): void {
  const reported = loaded.diagnostics.map(show).sort()
  const wanted = expected.map(show).sort()
  const missing = expected.filter((item) => !reported.includes(show(item))).map((item) => `${show(item)} — ${item.what}`)
  const extra = reported.filter((item) => !wanted.includes(item))
  const detail = (items: Diagnostic[]) => items.map((item) => formatDiagnostic(item)).join('\n')
  expect({ missing, extra }, `reported:\n${detail(loaded.diagnostics.filter((item) => extra.includes(show(item))))}`).toEqual({ missing: [], extra: [] })
  expect(reported).toEqual(wanted)
  for (const diagnostic of loaded.diagnostics) {
    expect(diagnostic.file).toBe(loaded.file)
    if (diagnostic.severity === 'error') expect(diagnostic.hint, `${diagnostic.rule} says how to fix it`).toMatch(/\S/)
    expect(formatDiagnostic(diagnostic)).toContain(`${loaded.file}:${diagnostic.line}:${diagnostic.column}: ${diagnostic.severity}: `)
  }
}

/** Whether two kinds can be put in one recipe and are independent of each other. */
function independent(a: Kind, b: Kind): boolean {
  const writes = (kind: Kind) => [...Object.keys(kind.fields), ...(kind.badId ? ['id'] : [])]
  const touches = (kind: Kind) => new Set([...writes(kind), ...(kind.needs ?? [])])
  const clash = (x: Kind, y: Kind) => [...writes(x), ...(x.breaks ?? [])].some((fact) => touches(y).has(fact))
  return !clash(a, b) && !clash(b, a)
}

/** Every rule reported by the tests below, to check that none of the known rules was left out. */
const seen = new Set<string>()
function record(loaded: LoadedManifest): void {
  for (const diagnostic of loaded.diagnostics) seen.add(diagnostic.rule)
}

function allKinds(builder: ManifestBuilder, kinds: Kind[]): ManifestBuilder {
  builder.lines.push('recipes:', ...COMPANION)
  kinds.forEach((kind, index) => {
    builder.recipe(`p${index}`, [kind])
  })
  return builder
}

describe('one manifest with a problem of every kind', () => {
  it('reports all of them in one load, each at its own line:col', async () => {
    const builder = allKinds(new ManifestBuilder().top(['out: .']).top(TOP_LEVEL.lines, TOP_LEVEL.expect), KINDS)
    const loaded = await load(builder.text())
    record(loaded)
    expectExactly(loaded, builder.expected)
    expect(loaded.jobs).toEqual([])
  })

  it('an `out` outside the project hides only the checks of where outputs really land', async () => {
    const kinds = KINDS.filter((kind) => !kind.needs?.includes('out'))
    const builder = allKinds(
      new ManifestBuilder().top(['version: 1', 'out: ../elsewhere'], [{ rule: 'out/outside-project', line: 1, at: '../elsewhere' }]),
      kinds,
    )
    const loaded = await load(builder.text())
    record(loaded)
    expectExactly(loaded, builder.expected)
  })

  it('a reserved `out` hides only the checks of where outputs really land', async () => {
    const kinds = KINDS.filter((kind) => !kind.needs?.includes('out'))
    const builder = allKinds(new ManifestBuilder().top(['version: 1', 'out: .images-edit/x'], [{ rule: 'out/reserved', line: 1, at: '.images-edit/x' }]), kinds)
    const loaded = await load(builder.text())
    record(loaded)
    expectExactly(loaded, builder.expected)
  })

  it('an empty `recipes` with every top-level problem and a bad `out`', async () => {
    const builder = new ManifestBuilder()
      .top(TOP_LEVEL.lines, TOP_LEVEL.expect)
      .top(['out: ../elsewhere'], [{ rule: 'out/outside-project', line: 0, at: '../elsewhere' }])
      .top(['recipes: {}'], [{ rule: 'schema/minProperties', line: 0, at: 'recipes' }])
    const loaded = await load(builder.text())
    record(loaded)
    expectExactly(loaded, builder.expected)
  })

  it('a recipe that sets the problem-free values still becomes a job beside the broken ones', async () => {
    const builder = new ManifestBuilder().top(['version: 1', 'out: .', 'recipes:', '  good:', '    prompt: fine', '    refs: [refs/a.png]'])
    builder.recipe('p0', [KINDS.find((kind) => kind.name === 'missing mask') as Kind, KINDS.find((kind) => kind.name === 'n type') as Kind])
    const loaded = await load(builder.text())
    expectExactly(loaded, builder.expected)
    expect(loaded.jobs.map((job) => job.id)).toEqual(['good'])
  })
})

describe('every pair of independent problems inside one recipe', () => {
  const pairs: [Kind, Kind][] = []
  for (let first = 0; first < KINDS.length; first++) {
    for (let second = first + 1; second < KINDS.length; second++) {
      const a = KINDS[first] as Kind
      const b = KINDS[second] as Kind
      if (independent(a, b)) pairs.push([a, b])
    }
  }

  it('the catalogue yields hundreds of pairs', () => {
    expect(pairs.length).toBeGreaterThan(800)
  })

  // Many pairs per manifest (one recipe each), so the test stays fast; attribution is by line.
  const BATCH = 60
  for (let start = 0; start < pairs.length; start += BATCH) {
    const batch = pairs.slice(start, start + BATCH)
    it(`pairs ${start + 1}–${start + batch.length}: both problems of each pair are reported, and nothing else`, async () => {
      const builder = new ManifestBuilder().top(['version: 1', 'out: .', 'recipes:', ...COMPANION])
      batch.forEach(([a, b], index) => {
        builder.recipe(`p${index}`, [a, b])
      })
      const loaded = await load(builder.text())
      record(loaded)
      // Per recipe, for a readable failure: which pair lost (or gained) a diagnostic.
      const failures: string[] = []
      batch.forEach(([a, b], index) => {
        const [from, to] = builder.ranges.get(`p${index}`) as [number, number]
        const inside = (item: { line: number }) => item.line > from && item.line <= to
        const got = loaded.diagnostics.filter(inside).map(show).sort()
        const want = builder.expected.filter(inside).map(show).sort()
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${a.name} + ${b.name}: expected ${want.join(', ')}; got ${got.join(', ')}`)
      })
      expect(failures).toEqual([])
      expectExactly(loaded, builder.expected)
    })
  }
})

describe('no rule is left out', () => {
  /** Rules that cannot be reported beside others, and why. */
  const ALONE: Record<string, string> = {
    'yaml/encoding': 'bytes that are not UTF-8 text leave nothing to parse',
    'yaml/too-large': 'a file past the size cap is not parsed',
    'yaml/too-deep': 'a file nested past the depth cap is not parsed',
    'yaml/aliases': 'an alias bomb leaves no value',
    'schema/too-many': 'past the cap of described schema problems, the rest would be cut anyway',
    'manifest/too-many-problems': 'the cap on reported problems itself',
  }
  /** Rules no manifest can trigger with today's providers (asserted below). */
  const UNREACHABLE: Record<string, string> = {
    'provider/max-refs': "every provider takes as many refs as the schema's maxItems",
    'provider/mask': 'every provider supports masks',
  }

  it('the unreachable rules are unreachable', () => {
    const schema = JSON.parse(readFileSync(join(here, '../../schema.json'), 'utf8'))
    const maxItems = schema.definitions.recipe.properties.refs.maxItems as number
    for (const provider of Object.keys(defaultModels) as ProviderId[]) {
      const caps = capabilitiesOf(provider, defaultModels[provider])
      expect(caps.maxRefs, provider).toBeGreaterThanOrEqual(maxItems)
      expect(caps.mask.supported, provider).toBe(true)
    }
  })

  it('every rule of the manifest sources and every schema keyword was reported above', () => {
    const rules = new Set<string>()
    const sources = readdirSync(here).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
    for (const name of sources) {
      const text = readFileSync(join(here, name), 'utf8')
      for (const match of text.matchAll(/['`](yaml|schema|tokens|each|name|out|provider|params|ref|mask|manifest|\$\{role\})\/([a-z_-]+)['`]/g)) {
        const [, group, rule] = match
        // `${role}/missing` in rules.ts is both ref/missing and mask/missing.
        if (group?.startsWith('$')) for (const role of ['ref', 'mask']) rules.add(`${role}/${rule}`)
        else rules.add(`${group}/${rule}`)
      }
    }
    // `schema/${keyword}`: every validation keyword the schema uses.
    const schema = JSON.parse(readFileSync(join(here, '../../schema.json'), 'utf8'))
    const keywordRule: Record<string, string> = { additionalProperties: 'schema/unknown-field', propertyNames: 'schema/name', anyOf: 'schema/type' }
    const annotations = new Set(['$schema', '$id', '$ref', 'title', 'description', 'definitions', 'properties', 'items', 'default', 'examples'])
    // `if`/`then`/`else` (a price is a number or a map) only apply the keywords inside them, which are walked.
    for (const applicator of ['if', 'then', 'else']) annotations.add(applicator)
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return
      if (Array.isArray(node)) {
        for (const item of node) walk(item)
        return
      }
      for (const [keyword, value] of Object.entries(node)) {
        if (keyword === 'properties' || keyword === 'definitions') {
          for (const child of Object.values(value as object)) walk(child)
          continue
        }
        if (!annotations.has(keyword) && !(keyword === 'additionalProperties' && value !== false)) rules.add(keywordRule[keyword] ?? `schema/${keyword}`)
        walk(value)
      }
    }
    walk(schema)
    expect(rules.size).toBeGreaterThan(50)
    const missing = [...rules].filter((rule) => !seen.has(rule) && !(rule in ALONE) && !(rule in UNREACHABLE)).sort()
    expect(missing, 'rules no test above reported: add a kind to KINDS, or say why it cannot coexist').toEqual([])
  })
})
