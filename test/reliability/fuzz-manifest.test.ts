/**
 * Hostile manifests: more than 10,000 generated inputs through `loadManifest` (in a probe process,
 * ./fuzz-child.mjs, so that a fatal crash or a synchronous freeze is caught and reported with its
 * input). Property for every input: `loadManifest` resolves — no throw, no crash, no hang (a 5 s
 * hang detector, not a performance bound) — and either
 *
 * - reports errors, each located (1 ≤ line ≤ lines + 1, 1 ≤ column ≤ line length + 1) with a
 *   message and a fix, or
 * - reports no error, and then every job has a 64-hex key, outputs inside `out`, and local inputs
 *   inside the project (also through symlinks).
 *
 * Inputs: structure-aware mutations of valid manifests (keys dropped, duplicated, renamed; value
 * types swapped; numbers out of range; tokens in prompts and names; `..`, absolute and symlinked
 * paths; `each` globs; 0–20 refs), random YAML, deep nesting, huge files and strings, alias bombs
 * and odd encodings.
 *
 * Reproduce: the seed is printed; `FUZZ_SEED=<seed>` replays a run, `FUZZ_CASE=<group>:<index>`
 * runs one case. Failing inputs are written to a temporary folder whose path is printed.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { makeImage, makeMask, tempDir, writeFiles } from '../helpers.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20_250_601)
const ONLY = process.env.FUZZ_CASE
// Only a real hang reaches this: the slowest input takes ~2.4 s on a loaded 2-core machine, so the
// detector must not be a performance bound (a loaded CI box once crossed a 5 s one).
const HANG_MS = 60_000
/** Multiplies the number of generated cases (e.g. 0.1 for a quick look, 10 for a long soak). */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1)
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fuzz-child.mjs')

// ---------------------------------------------------------------------------------------------
// Seeded randomness: every case has its own generator derived from (seed, group, index), so one
// case can be replayed alone.

function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function hashString(text: string): number {
  let hash = 2166136261
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 16777619)
  return hash >>> 0
}

class Rng {
  private readonly next: () => number
  constructor(seed: number) {
    this.next = mulberry32(seed)
  }
  float(): number {
    return this.next()
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T
  }
}

// ---------------------------------------------------------------------------------------------
// Generators.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

const BASES: (() => Record<string, Json>)[] = [
  () => ({
    version: 1,
    out: 'out',
    vars: { style: 'soft studio light' },
    defaults: { provider: 'local', ratio: '1:1', resolution: '1k' },
    recipes: {
      hero: { prompt: 'A poster, {vars.style}', refs: ['refs/a.png', 'refs/b.jpg'], ratio: '16:9', n: 2 },
      masked: { prompt: 'Replace the sky', refs: ['refs/a.png'], mask: 'masks/m.png' },
      product: { each: 'refs/products/*.png', prompt: 'the {stem} on marble, {vars.style}', refs: ['{file}', 'refs/b.jpg'], name: 'products/{stem}.{ext}' },
    },
  }),
  () => ({
    version: 1,
    out: 'generated/edits',
    defaults: { provider: 'toapis', quality: 'high', format: 'png', n: 1 },
    providers: { toapis: { baseUrl: 'https://toapis.com/v1', apiKeyEnv: 'TOAPIS_API_KEY', concurrency: 4, requestsPerMinute: 300 } },
    concurrency: 8,
    budget: { maxImagesPerRun: 20 },
    recipes: {
      wide: { prompt: 'Cinematic', refs: ['refs/a.png'], ratio: '21:9', resolution: '4k', format: 'jpeg', compression: 80 },
      square: { prompt: 'Square {{literal}} braces', refs: ['refs/b.jpg', 'https://example.com/ref.png'], background: 'transparent', seed: 7 },
    },
  }),
  () => ({
    version: 1,
    recipes: {
      oa: {
        provider: 'openai',
        prompt: 'Edit',
        refs: ['refs/a.png'],
        format: 'webp',
        compression: 50,
        inputFidelity: 'high',
        moderation: 'low',
        quality: 'auto',
      },
      aa: {
        provider: 'aa',
        prompt: 'Edit two',
        refs: ['refs/products/x.png', 'refs/products/y.png'],
        ratio: '3:2',
        seed: 'take-2',
        name: 'aa/{recipe}-{hash}.{ext}',
      },
      many: { provider: 'local', prompt: 'n', refs: ['refs/a.png'], n: 3, name: 'many/{index}.{ext}' },
    },
  }),
]

const TOKENS = [
  '{vars.style}',
  '{vars.nope}',
  '{stem}',
  '{file}',
  '{dir}',
  '{index}',
  '{hash}',
  '{recipe}',
  '{ext}',
  '{unknown}',
  '{{',
  '}}',
  '{',
  '}',
  '{vars.}',
  '{vars.__proto__}',
  '\n',
  '\t',
  '\r',
  '\u0000',
  '\u202e',
  '🦄',
  'é',
  '"',
  "'",
  ': ',
  ' #',
  '%',
  '&a',
  '*a',
  '!!str',
  '---',
  '...',
  '../',
  '/',
  '\\',
  ' ',
  '',
  'x'.repeat(300),
]
const PATHS = [
  '../outside.png',
  '../../etc/passwd',
  '/etc/passwd',
  '/tmp',
  'refs/../../outside.png',
  'refs/escape.png',
  'refs/escape-dir/inner.png',
  '..\\..\\outside.png',
  'C:\\Windows\\win.ini',
  '~/x.png',
  'refs',
  '.',
  '',
  ' ',
  'refs/a.png\u0000.txt',
  'file:///etc/passwd',
  'http://127.0.0.1/x.png',
  'http://localhost:1/x.png',
  'https://example.com/a.png',
  'https://',
  'ftp://example.com/a.png',
  'data:image/png;base64,AAAA',
  'refs/missing.png',
  'refs/not-image.png',
  'images.edit.yaml',
  'refs/a.png',
  'refs/b.jpg',
  'masks/m.png',
  '{file}',
  'refs/products/x.png',
  'refs//a.png',
  './refs/a.png',
  'REFS/A.PNG',
]
const GLOBS = [
  'refs/products/*.png',
  'refs/**/*',
  '**',
  '*',
  '../*',
  '/etc/*',
  '{refs,masks}/*.png',
  '[',
  'refs/products/',
  '!(x)',
  'refs/escape-dir/*',
  'refs/products/*.{png,jpg}',
  '',
  'refs/products/**/../../*.png',
]
const NAMES = [
  '{recipe}.{ext}',
  '../{recipe}.{ext}',
  '/abs/{recipe}.png',
  '{stem}',
  'same.png',
  '{index}.{ext}',
  'a/../../b.png',
  '{hash}',
  '',
  '.',
  '..',
  'x\\..\\..\\y.png',
]
const NUMBERS = [0, -1, 1, 2, 10, 11, 100, 1.5, -0.5, 1e9, 2 ** 53 + 2, 1e308, Number.MAX_SAFE_INTEGER]
const WEIRD_KEYS = [
  'promt',
  'Prompt',
  'ref',
  '',
  ' ',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'x'.repeat(500),
  '🦄',
  'a.b',
  'recipes',
  '$ref',
  '0',
]

function randomScalar(rng: Rng): Json {
  switch (rng.int(0, 7)) {
    case 0:
      return rng.pick(NUMBERS)
    case 1:
      return rng.chance(0.5)
    case 2:
      return null
    case 3:
      return rng.pick(TOKENS)
    case 4:
      return rng.pick(PATHS)
    case 5:
      return rng.pick(['1:1', '16:9', '7:5', 'auto', '1k', '2k', '4k', '8k', 'png', 'gif', 'local', 'toapis', 'nope', 'high', 'ultra'])
    case 6:
      return String(rng.int(-5, 50))
    default:
      return rng.pick(WEIRD_KEYS)
  }
}

function randomValue(rng: Rng, depth: number): Json {
  if (depth <= 0 || rng.chance(0.5)) return randomScalar(rng)
  if (rng.chance(0.5)) return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth - 1))
  return Object.fromEntries(Array.from({ length: rng.int(0, 4) }, () => [String(randomScalar(rng)), randomValue(rng, depth - 1)]))
}

/** Every map and array in the tree, with its parent, for picking a mutation site. */
function containers(root: Json): (Json[] | { [key: string]: Json })[] {
  const found: (Json[] | { [key: string]: Json })[] = []
  const walk = (value: Json) => {
    if (value && typeof value === 'object') {
      found.push(value)
      for (const child of Array.isArray(value) ? value : Object.values(value)) walk(child)
    }
  }
  walk(root)
  return found
}

function recipesOf(manifest: Record<string, Json>): Record<string, Record<string, Json>> {
  const recipes = manifest.recipes
  return recipes && typeof recipes === 'object' && !Array.isArray(recipes) ? (recipes as Record<string, Record<string, Json>>) : {}
}

function anyRecipe(rng: Rng, manifest: Record<string, Json>): Record<string, Json> | undefined {
  const list = Object.values(recipesOf(manifest)).filter((recipe) => recipe && typeof recipe === 'object' && !Array.isArray(recipe))
  return list.length ? rng.pick(list) : undefined
}

const MUTATIONS: { name: string; apply: (rng: Rng, manifest: Record<string, Json>) => void }[] = [
  {
    name: 'drop key',
    apply: (rng, manifest) => {
      const maps = containers(manifest).filter((item) => !Array.isArray(item) && Object.keys(item).length > 0) as Record<string, Json>[]
      if (!maps.length) return
      const map = rng.pick(maps)
      delete map[rng.pick(Object.keys(map))]
    },
  },
  {
    name: 'rename key',
    apply: (rng, manifest) => {
      const maps = containers(manifest).filter((item) => !Array.isArray(item) && Object.keys(item).length > 0) as Record<string, Json>[]
      if (!maps.length) return
      const map = rng.pick(maps)
      const key = rng.pick(Object.keys(map))
      const value = map[key] as Json
      delete map[key]
      const renamed = rng.chance(0.5) ? rng.pick(WEIRD_KEYS) : key.slice(0, -1) + rng.pick(['x', 'e', '', '_', 's'])
      Object.defineProperty(map, renamed, { value, enumerable: true, configurable: true, writable: true })
    },
  },
  {
    name: 'copy key',
    apply: (rng, manifest) => {
      const maps = containers(manifest).filter((item) => !Array.isArray(item) && Object.keys(item).length > 0) as Record<string, Json>[]
      if (!maps.length) return
      const map = rng.pick(maps)
      const key = rng.pick(Object.keys(map))
      map[`${key}${rng.pick(['2', '-copy', ''])}`] = structuredClone(map[key] as Json)
    },
  },
  {
    name: 'swap value type',
    apply: (rng, manifest) => {
      const all = containers(manifest)
      const target = rng.pick(all)
      if (Array.isArray(target)) {
        if (target.length) target[rng.int(0, target.length - 1)] = randomValue(rng, 2)
        else target.push(randomValue(rng, 2))
      } else {
        const keys = Object.keys(target)
        if (keys.length) target[rng.pick(keys)] = randomValue(rng, 2)
      }
    },
  },
  {
    name: 'number out of range',
    apply: (rng, manifest) => {
      const field = rng.pick(['n', 'compression', 'seed', 'version', 'concurrency'] as const)
      const value = rng.pick(NUMBERS)
      if (field === 'version') manifest.version = rng.pick([0, 2, '1', 1.5, -1, null])
      else if (field === 'concurrency') manifest.concurrency = value
      else {
        const recipe = anyRecipe(rng, manifest)
        if (recipe) recipe[field] = value
      }
    },
  },
  {
    name: 'tokens in text',
    apply: (rng, manifest) => {
      const recipe = anyRecipe(rng, manifest)
      if (!recipe) return
      const field = rng.pick(['prompt', 'name', 'seed', 'model'])
      const base = typeof recipe[field] === 'string' ? (recipe[field] as string) : ''
      let text = base
      for (let count = rng.int(1, 4); count > 0; count--) {
        const at = rng.int(0, text.length)
        text = text.slice(0, at) + rng.pick(TOKENS) + text.slice(at)
      }
      recipe[field] = text
    },
  },
  {
    name: 'rename recipe',
    apply: (rng, manifest) => {
      const recipes = recipesOf(manifest)
      const ids = Object.keys(recipes)
      if (!ids.length) return
      const id = rng.pick(ids)
      const recipe = recipes[id] as Record<string, Json>
      delete recipes[id]
      recipes[rng.pick(['a/b', '../up', '..', '.', ' ', 'with space', '🦄', 'x'.repeat(200), 'UPPER', 'dup', 'hero', `${id}\n`, 'a:b', '#'])] = recipe
    },
  },
  {
    name: 'hostile path',
    apply: (rng, manifest) => {
      const where = rng.int(0, 4)
      if (where === 0) manifest.out = rng.pick([...PATHS, 'out/../..', '/tmp/images-edit-fuzz-out', 'out/./x'])
      const recipe = anyRecipe(rng, manifest)
      if (!recipe) return
      if (where === 1) recipe.mask = rng.pick(PATHS)
      else if (where === 2) recipe.name = rng.pick(NAMES)
      else if (where === 3) recipe.each = rng.pick(GLOBS)
      else {
        const refs = Array.isArray(recipe.refs) ? (recipe.refs as Json[]) : []
        refs[rng.int(0, refs.length)] = rng.pick(PATHS)
        recipe.refs = refs
      }
    },
  },
  {
    name: 'each glob',
    apply: (rng, manifest) => {
      const recipe = anyRecipe(rng, manifest)
      if (!recipe) return
      recipe.each = rng.pick(GLOBS)
      if (rng.chance(0.7)) recipe.refs = ['{file}', ...(rng.chance(0.5) ? ['refs/a.png'] : [])]
      if (rng.chance(0.5)) recipe.name = rng.pick(['{stem}.{ext}', '{dir}/{stem}.{ext}', 'same.png', '{file}', '{recipe}-{index}.{ext}'])
    },
  },
  {
    name: '0–20 refs',
    apply: (rng, manifest) => {
      const recipe = anyRecipe(rng, manifest)
      if (!recipe) return
      const pool = rng.chance(0.7) ? ['refs/a.png', 'refs/b.jpg', 'refs/products/x.png', 'refs/products/y.png'] : PATHS
      recipe.refs = Array.from({ length: rng.int(0, 20) }, () => rng.pick(pool))
    },
  },
  {
    name: 'extra recipe',
    apply: (rng, manifest) => {
      const recipes = recipesOf(manifest)
      const source = anyRecipe(rng, manifest)
      if (source) recipes[`copy${rng.int(0, 9)}`] = structuredClone(source)
      if (!manifest.recipes || typeof manifest.recipes !== 'object') manifest.recipes = recipes
    },
  },
]

/** Text-level damage after serialising: lines duplicated, dropped, swapped, re-indented, bytes inserted, cut short. */
function damageText(rng: Rng, text: string): string {
  const lines = text.split('\n')
  const at = rng.int(0, Math.max(0, lines.length - 1))
  switch (rng.int(0, 6)) {
    case 0:
      lines.splice(at, 0, lines[at] ?? '') // duplicate a line: duplicate keys
      break
    case 1:
      lines.splice(at, 1)
      break
    case 2: {
      const other = rng.int(0, Math.max(0, lines.length - 1))
      ;[lines[at], lines[other]] = [lines[other] ?? '', lines[at] ?? '']
      break
    }
    case 3:
      lines[at] = (rng.chance(0.5) ? rng.pick([' ', '   ', '\t', '        ']) : '') + (lines[at] ?? '').trimStart()
      break
    case 4: {
      const line = lines[at] ?? ''
      const column = rng.int(0, line.length)
      lines[at] =
        line.slice(0, column) +
        rng.pick([':', '-', '[', ']', '{', '}', '"', "'", '&x', '*x', '!', '|', '>', '#', '? ', ',', '%YAML 1.1\n', '---\n', '\t']) +
        line.slice(column)
      break
    }
    case 5:
      return text.slice(0, rng.int(0, text.length))
    default:
      lines.splice(at, 0, `${rng.pick(WEIRD_KEYS)}: ${JSON.stringify(randomScalar(rng))}`)
  }
  return lines.join('\n')
}

function serialize(rng: Rng, value: Json): string {
  switch (rng.int(0, 5)) {
    case 0:
      return `${JSON.stringify(value, null, rng.pick([0, 2]))}\n`
    case 1:
      return stringify(value, { collectionStyle: 'flow' })
    default:
      return stringify(value, { lineWidth: rng.pick([0, 40, 80]) })
  }
}

function mutationCase(rng: Rng): { text: string; description: string } {
  const manifest = rng.pick(BASES)()
  const applied: string[] = []
  for (let count = rng.int(1, 4); count > 0; count--) {
    const mutation = rng.pick(MUTATIONS)
    mutation.apply(rng, manifest)
    applied.push(mutation.name)
  }
  let text = serialize(rng, manifest as Json)
  if (rng.chance(0.25)) {
    text = damageText(rng, text)
    applied.push('text damage')
  }
  return { text, description: applied.join(', ') }
}

const YAML_SOUP = [
  ':',
  '-',
  ' ',
  '  ',
  '\n',
  '[',
  ']',
  '{',
  '}',
  ',',
  '"',
  "'",
  '&a',
  '*a',
  '!',
  '!!map',
  '|',
  '>',
  '#',
  '? ',
  '%',
  '@',
  '`',
  'a',
  'key',
  'recipes',
  'version',
  '1',
  '~',
  '\t',
  '<<',
]

function randomYamlCase(rng: Rng): { text: string; description: string } {
  if (rng.chance(0.5)) {
    const value = rng.chance(0.7) ? { version: rng.pick([1, 1, 2, '1']), recipes: randomValue(rng, 4) } : randomValue(rng, 5)
    return { text: serialize(rng, value), description: 'random YAML value' }
  }
  let text = ''
  for (let count = rng.int(1, 80); count > 0; count--) text += rng.pick(YAML_SOUP)
  return { text, description: 'random YAML tokens' }
}

interface Case {
  group: string
  index: number
  description: string
  bytes: Buffer
}

const BOMB = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
  'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
  'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]',
].join('\n')

const VALID = 'version: 1\nout: out\ndefaults: { provider: local }\nrecipes:\n  hero:\n    prompt: caf\u00e9 poster\n    refs: [refs/a.png]\n'

function fixedCases(): Case[] {
  const cases: Omit<Case, 'index'>[] = []
  const add = (group: string, description: string, content: string | Buffer) =>
    cases.push({ group, description, bytes: typeof content === 'string' ? Buffer.from(content, 'utf8') : content })
  const DEPTH = 10_000
  add('deep', `${DEPTH} × [`, '['.repeat(DEPTH))
  add('deep', `${DEPTH} × {`, '{'.repeat(DEPTH))
  add('deep', `${DEPTH} × [ … ] balanced`, `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`)
  add('deep', `${DEPTH} × {a: … } balanced`, `${'{a: '.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`)
  add('deep', `prompt of ${DEPTH} × [`, `version: 1\nrecipes:\n  x:\n    prompt: ${'['.repeat(DEPTH)}\n    refs: [refs/a.png]\n`)
  add(
    'deep',
    `recipes: ${DEPTH} nested block maps`,
    `version: 1\nrecipes:\n${Array.from({ length: 2_000 }, (_, depth) => `${' '.repeat(2 + depth)}k${depth}:`).join('\n')} x\n`,
  )
  add('deep', `${DEPTH} nested block sequences`, `version: 1\nrecipes: ${'- '.repeat(DEPTH)}x\n`)
  add('deep', '100 × [ (small)', '['.repeat(100))
  add('deep', '1000 × [', '['.repeat(1_000))
  add('deep', '1000 × {', '{'.repeat(1_000))

  add('huge', '8 MiB + 1 byte comment', `version: 1\n# ${'x'.repeat(8 * 1024 * 1024 - 12)}\n`)
  add('huge', '9 MiB of recipes', `version: 1\nrecipes:\n${'  r: {prompt: p, refs: [refs/a.png]}\n'.repeat(260_000)}`)
  add(
    'huge',
    '1 MiB prompt',
    `version: 1\nout: out\ndefaults: { provider: local }\nrecipes:\n  x:\n    prompt: ${'y'.repeat(1024 * 1024)}\n    refs: [refs/a.png]\n`,
  )
  add('huge', '1 MiB recipe name', `version: 1\nrecipes:\n  ${'n'.repeat(1024 * 1024)}:\n    prompt: p\n    refs: [refs/a.png]\n`)
  add(
    'huge',
    '40,000 flow-map recipes of the wrong type (430 KB)',
    `version: 1\nrecipes: {${Array.from({ length: 40_000 }, (_, index) => `r${index}: 1`).join(', ')}}\n`,
  )
  add(
    'huge',
    '2,000 valid recipes',
    `version: 1\nout: out\ndefaults: { provider: local }\nrecipes:\n${Array.from({ length: 2_000 }, (_, index) => `  r${index}: {prompt: p${index}, refs: [refs/a.png]}\n`).join('')}`,
  )

  add('aliases', 'billion laughs (9⁹)', `${BOMB}\nversion: 1\nrecipes: *i\n`)
  add('aliases', 'billion laughs in a prompt', `${BOMB}\nversion: 1\nrecipes:\n  x:\n    prompt: *i\n    refs: [refs/a.png]\n`)
  add('aliases', 'self-referencing alias', 'a: &a [*a]\nversion: 1\nrecipes: *a\n')
  add('aliases', 'undefined alias', 'version: 1\nrecipes: *nope\n')
  add('aliases', 'merge keys', 'version: 1\nbase: &b {prompt: p, refs: [refs/a.png]}\nrecipes:\n  x:\n    <<: *b\n')
  add(
    'aliases',
    '101 aliases of a scalar',
    `version: 1\nv: &v hello\nrecipes:\n  x:\n    prompt: p\n    refs: [${Array.from({ length: 101 }, () => '*v').join(', ')}]\n`,
  )
  add(
    'aliases',
    'recipes shared by alias',
    'version: 1\nout: out\ndefaults: { provider: local }\nr: &r {prompt: p, refs: [refs/a.png]}\nrecipes: {a: *r, b: *r}\n',
  )

  const utf16 = (text: string) => Buffer.from(text, 'utf16le')
  add('encoding', 'UTF-16 LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), utf16(VALID)]))
  add('encoding', 'UTF-16 BE with BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(utf16(VALID)).swap16()]))
  add('encoding', 'UTF-16 LE without BOM', utf16(VALID))
  add('encoding', 'Latin-1 é', Buffer.from(VALID, 'latin1'))
  add('encoding', 'NUL in a prompt', VALID.replace('poster', 'pos\u0000ter'))
  add('encoding', 'NUL at the start', `\u0000${VALID}`)
  add('encoding', 'UTF-8 BOM (valid)', `\ufeff${VALID}`)
  add('encoding', 'two BOMs', `\ufeff\ufeff${VALID}`)
  add('encoding', 'overlong UTF-8 "/"', Buffer.concat([Buffer.from(VALID.slice(0, 20)), Buffer.from([0xc0, 0xaf]), Buffer.from(VALID.slice(20))]))
  add('encoding', 'CESU-8 surrogate', Buffer.concat([Buffer.from(VALID.slice(0, 30)), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(VALID.slice(30))]))
  add('encoding', 'truncated multibyte at the end', Buffer.concat([Buffer.from(VALID), Buffer.from([0xe2, 0x82])]))
  add('encoding', 'CR line endings', VALID.replace(/\n/g, '\r'))
  add('encoding', 'CRLF line endings', VALID.replace(/\n/g, '\r\n'))
  add('encoding', 'U+2028 line separator in prompt', VALID.replace('poster', 'pos\u2028ter'))
  add('encoding', 'C1 control and escapes', VALID.replace('poster', '"pos\\x85ter\\u0000"'))
  add('encoding', 'empty file', '')
  add('encoding', 'only a BOM', '\ufeff')
  add('encoding', 'only whitespace', '  \n\t\n')
  add('encoding', 'several documents', `${VALID}---\n${VALID}`)
  add('encoding', 'YAML 1.1 directive and tags', `%YAML 1.1\n---\nversion: !!int 1\nrecipes: !!map {x: {prompt: !!binary aGVsbG8=, refs: [refs/a.png]}}\n`)
  add('encoding', 'unknown tag', 'version: !!js/function "return 1"\nrecipes: !custom {}\n')
  return cases.map((item, index) => ({ ...item, index }))
}

// ---------------------------------------------------------------------------------------------
// The probe process and the property.

interface Reply {
  id: number
  ok: boolean
  error?: string
  outDir?: string
  root?: string
  diagnostics?: { severity: string; rule: string; message: string; hint?: string; line: number; column: number }[]
  jobs?: { id: string; key: string; outputs: string[]; inputs: { source: string; path?: string }[] }[]
}

class Probe {
  private child: ChildProcess | undefined
  private stderr = ''
  private nextId = 0
  private pending: { id: number; resolve: (reply: Reply | { died: string }) => void } | undefined
  restarts = 0

  /** @param hangMs the hang detector: a load without an answer this long counts as a hang. */
  constructor(private readonly hangMs = HANG_MS) {}

  private async start(): Promise<ChildProcess> {
    const child = fork(CHILD, [], {
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    this.stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000)
    })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined
      const fatal = /^FATAL ERROR:.*$/m.exec(this.stderr)?.[0] ?? this.stderr.slice(-1_000)
      this.pending?.resolve({ died: `the probe process died (code ${code}, signal ${signal}): ${fatal}` })
      this.pending = undefined
    })
    await new Promise<void>((ready, fail) => {
      child.once('message', () => ready())
      child.once('error', fail)
    })
    child.on('message', (reply: Reply) => {
      if (this.pending && reply.id === this.pending.id) {
        const { resolve: done } = this.pending
        this.pending = undefined
        done(reply)
      }
    })
    this.child = child
    return child
  }

  /** Loads `file`; a reply, `{ died }` when the process crashed, or `{ hang }` after the hang detector fired (the process is killed). */
  async load(file: string, root: string): Promise<Reply | { died: string } | { hang: true }> {
    if (!this.child) {
      if (this.nextId > 0) this.restarts++
      await this.start()
    }
    const child = this.child as ChildProcess
    const id = ++this.nextId
    let timer: NodeJS.Timeout | undefined
    const answer = new Promise<Reply | { died: string }>((done) => {
      this.pending = { id, resolve: done }
    })
    const hang = new Promise<{ hang: true }>((done) => {
      timer = setTimeout(() => done({ hang: true }), this.hangMs)
    })
    child.send({ id, file, root })
    const result = await Promise.race([answer, hang])
    clearTimeout(timer)
    if ('hang' in result) {
      this.pending = undefined
      this.child = undefined
      child.kill('SIGKILL')
    }
    return result
  }

  close(): void {
    const child = this.child
    this.child = undefined
    if (!child) return
    // Let it exit by itself (closing the channel ends it); kill it if it does not.
    child.disconnect()
    setTimeout(() => child.kill('SIGKILL'), 2_000).unref()
  }
}

let root = ''
let realRoot = ''
let cleanup: () => Promise<void> = async () => {}
const failureDir = join(tmpdir(), `images-edit-fuzz-failures-${SEED}`)
const totals = { cases: 0, errors: 0, valid: 0, failures: 0, byGroup: {} as Record<string, number>, rules: {} as Record<string, number> }

beforeAll(async () => {
  const made = await tempDir('images-edit-fuzz-')
  cleanup = made.cleanup
  root = join(made.dir, 'project')
  const outside = join(made.dir, 'outside')
  await mkdir(outside, { recursive: true })
  await writeFiles(outside, { 'outside.png': await makeImage(), 'inner.png': await makeImage() })
  await writeFiles(root, {
    'refs/a.png': await makeImage({ width: 64, height: 48 }),
    'refs/b.jpg': await makeImage({ width: 64, height: 48, format: 'jpeg' }),
    'refs/products/x.png': await makeImage({ width: 32, height: 32 }),
    'refs/products/y.png': await makeImage({ width: 32, height: 32, color: { r: 1, g: 200, b: 3 } }),
    'refs/not-image.png': 'not an image',
    'masks/m.png': await makeMask(64, 48),
  })
  // Symlinks that point out of the project: a file and a folder.
  await symlink(join(outside, 'outside.png'), join(root, 'refs/escape.png'))
  await symlink(outside, join(root, 'refs/escape-dir'))
  realRoot = await realpath(root)
  console.log(`[fuzz] seed ${SEED} (replay: FUZZ_SEED=${SEED}); failing inputs go to ${failureDir}`)
})

afterAll(async () => {
  console.log(`[reliability figures] fuzz: ${JSON.stringify(totals)}`)
  await cleanup()
})

function lineCount(bytes: Buffer): number {
  return bytes.toString('utf8').split(/\r\n|\r|\n/).length
}

function lineLengths(bytes: Buffer): number[] {
  let text = bytes.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  return text.split(/\r\n|\r|\n/).map((line) => line.length)
}

/** What is wrong with one reply; empty when the property holds. */
async function violations(item: Case, reply: Reply | { died: string } | { hang: true }): Promise<string[]> {
  if ('hang' in reply) return [`no answer within ${HANG_MS} ms (hang detector)`]
  if ('died' in reply) return [reply.died]
  if (!reply.ok) return [`loadManifest threw: ${reply.error}`]
  const problems: string[] = []
  const errors = (reply.diagnostics ?? []).filter((item) => item.severity === 'error')
  if (errors.length > 0) {
    const lines = lineCount(item.bytes)
    const lengths = lineLengths(item.bytes)
    for (const error of errors) {
      const where = `${error.rule} at ${error.line}:${error.column} "${error.message.slice(0, 120)}"`
      if (!(Number.isInteger(error.line) && error.line >= 1 && error.line <= lines + 1)) problems.push(`line out of range (1..${lines + 1}): ${where}`)
      if (!(Number.isInteger(error.column) && error.column >= 1)) problems.push(`column out of range: ${where}`)
      else if (error.line <= lengths.length && error.column > (lengths[error.line - 1] ?? 0) + 1)
        problems.push(`column past the end of line ${error.line} (length ${lengths[error.line - 1]}): ${where}`)
      if (!error.message?.trim()) problems.push(`empty message: ${where}`)
      if (!error.hint?.trim()) problems.push(`no hint (fix): ${where}`)
    }
    return problems
  }
  const outDir = reply.outDir ?? ''
  const outInside = relative(root, outDir)
  if (outInside.startsWith('..') || isAbsolute(outInside)) problems.push(`out (${outDir}) is outside the project`)
  for (const job of reply.jobs ?? []) {
    if (!/^[0-9a-f]{64}$/.test(job.key)) problems.push(`job ${job.id}: key ${job.key}`)
    for (const output of job.outputs) {
      const absolute = resolve(realRoot, output)
      const inside = relative(resolve(realRoot, relative(root, outDir)), absolute)
      if (!inside || inside.startsWith('..') || isAbsolute(inside)) problems.push(`job ${job.id}: output ${output} is not inside out (${outDir})`)
    }
    for (const input of job.inputs) {
      if (input.path === undefined) {
        if (!/^https:\/\//.test(input.source)) problems.push(`job ${job.id}: URL input ${input.source} is not https`)
        continue
      }
      const real = await realpath(resolve(root, input.path)).catch(() => undefined)
      const inside = real ? relative(realRoot, real) : '..'
      if (inside.startsWith('..') || isAbsolute(inside)) problems.push(`job ${job.id}: input ${input.source} resolves outside the project (${real})`)
    }
  }
  return problems
}

async function runCases(group: string, cases: Iterable<Case>, probes = 3): Promise<void> {
  const failures: string[] = []
  let count = 0
  const iterator = cases[Symbol.iterator]()
  // A few probe processes side by side: loading is mostly waiting on the file system.
  const worker = async (slot: number) => {
    const probe = new Probe()
    const file = join(root, `images.edit.${group}-${slot}.yaml`)
    try {
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        const item = next.value
        if (ONLY && ONLY !== `${item.group}:${item.index}`) continue
        count++
        await writeFile(file, item.bytes)
        const reply = await probe.load(file, root)
        const problems = await violations(item, reply)
        if ('ok' in reply && reply.ok) {
          const errors = (reply.diagnostics ?? []).filter((d) => d.severity === 'error')
          if (errors.length > 0) totals.errors++
          else totals.valid++
          for (const rule of new Set(errors.map((d) => d.rule))) totals.rules[rule] = (totals.rules[rule] ?? 0) + 1
        }
        if (problems.length === 0) continue
        totals.failures++
        mkdirSync(failureDir, { recursive: true })
        const saved = join(failureDir, `${item.group}-${item.index}.yaml`)
        writeFileSync(saved, item.bytes)
        if (failures.length < 12) {
          const preview = JSON.stringify(item.bytes.subarray(0, 200).toString('utf8'))
          failures.push(
            `FUZZ_SEED=${SEED} FUZZ_CASE=${item.group}:${item.index} (${item.description}; ${item.bytes.length} bytes; saved as ${saved})\n  input: ${preview}${item.bytes.length > 200 ? '…' : ''}\n  ${problems.slice(0, 4).join('\n  ')}`,
          )
        } else if (failures.length === 12) failures.push('… more failures; see the saved inputs')
      }
    } finally {
      probe.close()
    }
  }
  await Promise.all(Array.from({ length: probes }, (_, slot) => worker(slot)))
  totals.cases += count
  totals.byGroup[group] = count
  expect(failures, `${failures.length} failing case(s) of ${count} in ${group}, seed ${SEED}`).toEqual([])
}

function* generated(group: string, total: number, make: (rng: Rng) => { text: string; description: string }): Generator<Case> {
  for (let index = 0; index < total; index++) {
    const rng = new Rng(hashString(`${SEED}:${group}:${index}`))
    const { text, description } = make(rng)
    yield { group, index, description, bytes: Buffer.from(text, 'utf8') }
  }
}

describe.concurrent('hostile manifests never crash, hang or pass unlocated', () => {
  it('8,500 structure-aware mutations of valid manifests', { timeout: 120_000 }, async () => {
    await runCases('mutation', generated('mutation', Math.round(8_500 * SCALE), mutationCase))
  })

  it('1,600 random YAML documents and token soups', { timeout: 60_000 }, async () => {
    await runCases('random', generated('random', Math.round(1_600 * SCALE), randomYamlCase))
  })

  it('deep nesting loaded again in the same process — as `watch` and the dev server do on every save — does not abort it', { timeout: 180_000 }, async () => {
    // A generous hang bound here: this test is about the process surviving, not about speed.
    const probe = new Probe(60_000)
    const file = join(root, 'images.edit.again.yaml')
    const outcomes: string[] = []
    try {
      for (const [round, text] of ['['.repeat(10_000), '{'.repeat(10_000), '['.repeat(10_000)].entries()) {
        await writeFile(file, text)
        const reply = await probe.load(file, root)
        const item: Case = { group: 'again', index: round, description: `${text[0]} × 10000, load ${round + 1}`, bytes: Buffer.from(text) }
        const problems = await violations(item, reply)
        outcomes.push(`load ${round + 1} (${item.description}): ${problems.length ? problems.join('; ').slice(0, 400) : 'ok'}`)
      }
    } finally {
      probe.close()
    }
    expect(outcomes).toEqual(outcomes.map((line) => line.replace(/: .*$/s, ': ok')))
  })

  for (const group of ['deep', 'huge', 'aliases', 'encoding']) {
    it(`${group}: fixed hostile inputs`, { timeout: 600_000 }, async () => {
      await runCases(
        group,
        fixedCases()
          .filter((item) => item.group === group)
          .map((item, index) => ({ ...item, index })),
      )
    })
  }
})
