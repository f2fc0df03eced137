/**
 * The CLI speaks like the tools users know (npm, git, turbo): help per command, "did you mean",
 * the manifest's name on every warning, gc figures that hold, 1-based indexes, one word for "up
 * to date", and a README manifest reference that covers the whole schema.
 */
import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { exists, listFiles, makeImage, makeMask, repoRoot, runCli, STACK_LINE, startCli, tempDir, writeFiles, writeImages } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function project(manifest: string): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-speaks-')
  cleanups.push(cleanup)
  await writeImages(dir, {
    'refs/a.png': { color: { r: 200, g: 80, b: 40 } },
    'refs/b.png': { color: { r: 30, g: 90, b: 220 } },
  })
  await writeFiles(dir, { 'images.edit.yaml': manifest })
  return dir
}

const COMMANDS = ['init', 'validate', 'plan', 'build', 'watch', 'status', 'gc', 'takes', 'pick', 'pull', 'push', 'help']

/** Every `--flag` named in a help text (its option lines start with the flag). */
function flagsIn(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )? *(--[a-z-]+)/gm)].map((match) => match[1] as string)
}

/** One `## heading` section of the README. */
async function readmeSection(heading: string): Promise<string> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8')
  const start = readme.indexOf(`\n## ${heading}\n`)
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`)
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end < 0 ? undefined : end)
}

/** The YAML block of README's "Manifest reference". */
async function manifestReference(): Promise<string> {
  const section = await readmeSection('Manifest reference')
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1]
  if (!block) throw new Error('README.md "Manifest reference" has no ```yaml block')
  return block
}

describe.concurrent('help, per command', () => {
  it('`help`, `--help` and `-h` print the overview (exit 0) listing every command; `help <command>` and `<command> --help` print that command', async ({
    expect,
  }) => {
    const { dir, cleanup } = await tempDir('images-edit-help-')
    cleanups.push(cleanup)
    const overview = await runCli(['help'], { cwd: dir })
    expect(overview.code).toBe(0)
    expect((await runCli(['--help'], { cwd: dir })).stdout).toBe(overview.stdout)
    expect((await runCli(['-h'], { cwd: dir })).stdout).toBe(overview.stdout)
    for (const command of COMMANDS) expect(overview.stdout).toMatch(new RegExp(`^ {2}${command} +\\S`, 'm'))
    // A command added to the CLI and not to this list (so to none of these checks) fails here.
    const listed = overview.stdout.split('\nCommands\n')[1]?.split('\n\n')[0] ?? ''
    expect([...listed.matchAll(/^ {2}([a-z]+) /gm)].map((match) => match[1])).toEqual(COMMANDS)
    expect(overview.stdout).toMatch(/images-edit help <command>/)

    for (const command of COMMANDS) {
      const help = await runCli(['help', command], { cwd: dir })
      expect(help.code, command).toBe(0)
      expect(help.stderr, command).toBe('')
      expect((await runCli([command, '--help'], { cwd: dir })).stdout, command).toBe(help.stdout)
      expect(help.stdout, command).toMatch(new RegExp(`^Usage\\n {2}images-edit ${command}\\b`, 'm'))
      expect(help.stdout, command).toMatch(/^Examples?\n {2}\S*images-edit /m)
      // Every option line has a one-line description next to it.
      for (const line of help.stdout.split('\n').filter((text) => /^ {2}(-\w, | {4})--/.test(text))) expect(line, command).toMatch(/--\S+(?: <\w+>)? {2,}\S/)
      expect(flagsIn(help.stdout), command).toContain('--manifest')
    }
  })

  it('each command shows exactly the options it takes, and a flag of another command is refused naming its command', async ({ expect }) => {
    const { dir, cleanup } = await tempDir('images-edit-help-')
    cleanups.push(cleanup)
    const helpOf = async (command: string) => (await runCli(['help', command], { cwd: dir })).stdout
    const build = flagsIn(await helpOf('build'))
    for (const flag of ['--provider', '--concurrency', '--force', '--frozen', '--no-frozen', '--max-images', '--no-keep-going', '--force-lock'])
      expect(build).toContain(flag)
    expect(build).not.toContain('--dry-run')
    const gc = flagsIn(await helpOf('gc'))
    expect(gc).toContain('--dry-run')
    expect(gc).not.toContain('--force')
    const watch = flagsIn(await helpOf('watch'))
    expect(watch).toEqual(expect.arrayContaining(['--provider', '--frozen', '--no-frozen']))
    expect(watch).not.toContain('--max-images')

    const refused = await runCli(['watch', '--max-images', '3'], { cwd: dir })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--max-images applies to `build` only/)
    const frozen = await runCli(['gc', '--frozen'], { cwd: dir })
    expect(frozen.code).toBe(2)
    expect(frozen.stderr).toMatch(/--frozen applies to `build` and `watch` only/)
    expect(frozen.stderr).toMatch(/images-edit help gc/)
  })

  it("README's CLI reference names every command and every flag the help shows", async ({ expect }) => {
    const { dir, cleanup } = await tempDir('images-edit-help-')
    cleanups.push(cleanup)
    const section = await readmeSection('CLI reference')
    for (const command of COMMANDS) {
      expect(section, command).toContain(`\`${command}\``)
      for (const flag of flagsIn((await runCli(['help', command], { cwd: dir })).stdout)) expect(section, `${command} ${flag}`).toContain(`\`${flag}`)
    }
  })
})

describe.concurrent('did you mean', () => {
  const cases: [string[], RegExp, string][] = [
    [['biuld'], /^error: unknown command "biuld"\. Did you mean `build`\?$/, 'images-edit help'],
    [['help', 'stauts'], /^error: unknown command "stauts"\. Did you mean `status`\?$/, 'images-edit help'],
    [['build', '--forse', 'hero'], /^error: unknown option --forse for `build`\. Did you mean --force\?$/, 'images-edit help build'],
    [['gc', '--dryrun'], /^error: unknown option --dryrun for `gc`\. Did you mean --dry-run\?$/, 'images-edit help gc'],
    [
      ['build', '--provider', 'lcoal'],
      /^error: --provider must be one of toapis, aa, openai, local; got "lcoal"\. Did you mean local\?$/,
      'images-edit help build',
    ],
    [['plan', '--manifest'], /^error: --manifest needs a value/, 'images-edit help plan'],
  ]
  for (const [args, first, hint] of cases) {
    it(`images-edit ${args.join(' ')}: exit 2, one line and a hint to \`${hint}\``, async ({ expect }) => {
      const dir = await project('version: 1\nout: out\ndefaults:\n  provider: local\nrecipes:\n  hero:\n    prompt: a poster\n    refs: [refs/a.png]\n')
      const result = await runCli(args, { cwd: dir })
      expect(result.code).toBe(2)
      const lines = result.stderr.trimEnd().split('\n')
      expect(lines, result.stderr).toHaveLength(2)
      expect(lines[0]).toMatch(first)
      expect(lines[1]).toContain(`\`${hint}\``)
      // Not the argument parser's own wording.
      expect(result.stderr).not.toMatch(/To specify a positional argument|Unknown option '|ERR_PARSE_ARGS/)
      expect(result.stderr).not.toMatch(STACK_LINE)
      expect(result.stdout).toBe('')
      expect(await exists(join(dir, 'out'))).toBe(false)
      expect(await exists(join(dir, '.images-edit'))).toBe(false)
    })
  }

  it('--json: a usage error is also one JSON line on stdout', async ({ expect }) => {
    const { dir, cleanup } = await tempDir('images-edit-help-')
    cleanups.push(cleanup)
    const result = await runCli(['build', '--json', '--forse', 'x'], { cwd: dir })
    expect(result.code).toBe(2)
    expect(JSON.parse(result.stdout)).toMatchObject({ type: 'error', code: 'USAGE', message: expect.stringMatching(/Did you mean --force\?/) })
  })
})

describe.concurrent('manifest warnings name the file, line and column', () => {
  // `compression` has no effect on png output: a warning at line 9, column 18.
  const WARNED = `version: 1
out: out
defaults:
  provider: local
recipes:
  hero:
    prompt: a poster
    refs: [refs/a.png]
    compression: 80
`
  const located = /^images\.edit\.yaml:9:18: warning: .*compression/m

  /** Every line that says "warning" starts with `images.edit.yaml:line:col`. */
  function expectLocated(expect: import('vitest').ExpectStatic, text: string, what: string) {
    const lines = text.split('\n').filter((line) => /\bwarning( \S+)?:/.test(line))
    expect(lines.length, `${what}:\n${text}`).toBeGreaterThan(0)
    for (const line of lines) expect(line, what).toMatch(/^images\.edit\.yaml:\d+:\d+: warning: /)
  }

  it('validate, plan and build print it as errors are printed, once, with the line and the fix', async ({ expect }) => {
    const dir = await project(WARNED)
    for (const command of ['validate', 'plan', 'build']) {
      const result = await runCli([command], { cwd: dir })
      expect(result.code, `${command}: ${result.stderr}`).toBe(0)
      const all = result.stdout + result.stderr
      expect(all, command).toMatch(located)
      expect(all.match(/compression/g)?.length, `${command}: the warning once, and its source line\n${all}`).toBeLessThanOrEqual(3)
      expect(result.stderr, command).toMatch(/^ {2}9 \| {5}compression: 80$/m)
      expect(result.stderr, command).toMatch(/^ {2}fix: /m)
      expectLocated(expect, all, command)
    }
    // A second, no-op build says it again, still located.
    const again = await runCli(['build'], { cwd: dir })
    expectLocated(expect, again.stdout + again.stderr, 'build again')
    // --strict turns it into an error, located the same way.
    const strict = await runCli(['build', '--strict'], { cwd: dir })
    expect(strict.code).toBe(2)
    expect(strict.stderr).toMatch(/^images\.edit\.yaml:9:18: error: .*compression/m)
  })

  it('watch prints it located when it appears', async ({ expect }) => {
    const dir = await project(WARNED)
    const cli = startCli(['watch'], { cwd: dir })
    try {
      await cli.waitForStdout(/watching \d+ files?/)
      expect(cli.stderr()).toMatch(located)
      expectLocated(expect, cli.stdout() + cli.stderr(), 'watch')
    } finally {
      cli.kill('SIGINT')
      await cli.exited
    }
  })
})

describe.concurrent('gc', () => {
  const MANIFEST = `version: 1
out: out
defaults:
  provider: local
recipes:
  pick:
    prompt: the recipe that gets a second take
    refs: [refs/a.png]
  gone:
    prompt: the recipe that is removed
    refs: [refs/b.png]
    n: 2
`

  /** Size of every file under `.images-edit/`, by path. */
  async function storeFiles(dir: string): Promise<Map<string, number>> {
    const sizes = new Map<string, number>()
    for (const path of await listFiles(join(dir, '.images-edit'))) sizes.set(path, (await stat(join(dir, '.images-edit', path))).size)
    return sizes
  }

  const freed = (stdout: string) => /freeing (\S+ \S+) in \.images-edit\//.exec(stdout)?.[1]

  it('--dry-run reports the same bytes gc frees, which are the bytes that leave .images-edit/, and names jobs, not keys', async ({ expect }) => {
    const dir = await project(MANIFEST)
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    expect((await runCli(['build', '--force', 'pick'], { cwd: dir })).code).toBe(0)
    await writeFiles(dir, { 'images.edit.yaml': MANIFEST.replace(/ {2}gone:[\s\S]*/, '') })
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)

    const before = await storeFiles(dir)
    const dry = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(dry.code, dry.stderr).toBe(0)
    const dryJson = JSON.parse((await runCli(['gc', '--dry-run', '--json'], { cwd: dir })).stdout) as { bytes: number; outputBytes: number; objects: string[] }
    // Nothing stored was deleted (the stat cache may be refreshed).
    const afterDry = await storeFiles(dir)
    for (const [path, size] of before) if (/^(objects|records)\//.test(path)) expect(afterDry.get(path), path).toBe(size)
    expect(dryJson.bytes).toBeGreaterThan(0)
    expect(dryJson.objects).toHaveLength(3)

    // Jobs and outputs by name; no key prefixes.
    expect(dry.stdout).toMatch(/^would delete take 1 of pick \(1 image, .*take 2 is in use\)$/m)
    expect(dry.stdout).toMatch(/^would delete the old result behind out\/gone-1\.png, out\/gone-2\.png \(local /m)
    expect(dry.stdout).toMatch(/^would delete output out\/gone-1\.png$/m)
    expect(dry.stdout).not.toMatch(/\b[0-9a-f]{12,}\b/)
    expect(dry.stdout).toMatch(
      /^dry run: would delete 2 output files, 1 old result, 1 old take and 3 stored images, freeing \S+ \S+ in \.images-edit\/ and \S+ \S+ of outputs; run `images-edit gc` to delete them$/m,
    )

    const outputs = (await Promise.all(['out/gone-1.png', 'out/gone-2.png'].map((path) => stat(join(dir, path))))).reduce((sum, info) => sum + info.size, 0)
    const gc = await runCli(['gc'], { cwd: dir })
    expect(gc.code, gc.stderr).toBe(0)
    expect(gc.stdout).toMatch(/^deleted take 1 of pick /m)
    expect(freed(gc.stdout)).toBeDefined()
    expect(freed(gc.stdout)).toBe(freed(dry.stdout))

    // What the dry run promised is exactly what left .images-edit/.
    const after = await storeFiles(dir)
    const vanished = [...before].filter(([path]) => !after.has(path)).reduce((sum, [, size]) => sum + size, 0)
    expect(vanished).toBe(dryJson.bytes)
    expect(dryJson.outputBytes).toBe(outputs)
    expect(await listFiles(join(dir, 'out'))).toEqual(['pick.png'])

    const again = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(again.stdout).toBe('dry run: nothing to delete\n')
    expect(JSON.parse((await runCli(['gc', '--json'], { cwd: dir })).stdout)).toMatchObject({ bytes: 0, outputBytes: 0, records: [], takes: [] })
  })
})

describe.concurrent('indexes and status words people read', () => {
  it('images are counted from 1: output names, plan reasons', async ({ expect }) => {
    const dir = await project(`version: 1
out: out
defaults:
  provider: local
recipes:
  trio:
    prompt: three takes on a poster
    refs: [refs/a.png, refs/b.png]
    n: 3
`)
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    expect(await listFiles(join(dir, 'out'))).toEqual(['trio-1.png', 'trio-2.png', 'trio-3.png'])
    await writeFiles(dir, { 'refs/a.png': await makeImage({ color: { r: 1, g: 2, b: 3 } }) })
    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.stdout).toMatch(/why: ref 1 refs\/a\.png changed/)
    expect(plan.stdout).not.toMatch(/\bref 0\b|\bimage 0\b|\[0\]/)
  })

  it('"up to date" is the one word for it in plan, build, status and watch; never "cached", "fresh" or "up-to-date"', async ({ expect }) => {
    const dir = await project(`version: 1
out: out
defaults:
  provider: local
recipes:
  one:
    prompt: a poster
    refs: [refs/a.png]
  two:
    prompt: a mask edit
    refs: [refs/b.png]
    mask: masks/b.png
`)
    await writeFiles(dir, { 'masks/b.png': await makeMask(64, 48) })
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    const outputs: Record<string, string> = {}
    for (const args of [['plan', '--verbose'], ['build', '--verbose'], ['status']]) {
      const result = await runCli(args, { cwd: dir })
      expect(result.code, result.stderr).toBe(0)
      outputs[args[0] as string] = result.stdout + result.stderr
    }
    expect(outputs.plan).toMatch(/^= one: up to date$/m)
    expect(outputs.plan).toMatch(/2 jobs: 2 up to date/)
    expect(outputs.build).toMatch(/^= one up to date$/m)
    expect(outputs.build).toMatch(/0 generated \(0 new images\), 2 up to date, 0 restored/)
    expect(outputs.status).toMatch(/^one +up to date/m)
    expect(outputs.status).toMatch(/^2\/2 up to date$/m)

    // Restored from the store: said so, not "from cache".
    await rm(join(dir, 'out/one.png'))
    const restored = await runCli(['build'], { cwd: dir })
    expect(restored.stdout).toMatch(/^↺ one restored from the store \(out\/one\.png\)$/m)
    outputs.restored = restored.stdout + restored.stderr

    const cli = startCli(['watch'], { cwd: dir })
    try {
      await cli.waitForStdout(/watching /)
      outputs.watch = cli.stdout() + cli.stderr()
    } finally {
      cli.kill('SIGINT')
      await cli.exited
    }
    for (const [command, text] of Object.entries(outputs)) expect(text, command).not.toMatch(/\bcached\b|\bfresh\b|up-to-date/i)
  })
})

describe.concurrent("README's manifest reference", () => {
  type SchemaNode = {
    $ref?: string
    properties?: Record<string, SchemaNode>
    additionalProperties?: SchemaNode | boolean
  }

  it('has every field the schema accepts, each where the schema puts it', async ({ expect }) => {
    const schema = JSON.parse(await readFile(join(repoRoot, 'packages/core/schema.json'), 'utf8')) as SchemaNode & { definitions: Record<string, SchemaNode> }
    const block = parseYaml(await manifestReference()) as unknown
    const resolve = (node: SchemaNode): SchemaNode => {
      let current = node
      while (current.$ref) {
        const path = current.$ref.replace(/^#\//, '').split('/')
        current = path.reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], schema) as SchemaNode
      }
      return current
    }
    // Every object schema, with the YAML maps found where it applies (a recipe's fields that are
    // `defaults` fields count for both).
    const places = new Map<SchemaNode, { label: string; maps: Record<string, unknown>[] }>()
    const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
    const note = (node: SchemaNode, label: string, map: Record<string, unknown>) => {
      const place = places.get(node) ?? { label, maps: [] }
      place.maps.push(map)
      places.set(node, place)
    }
    const visit = (raw: SchemaNode, value: unknown, label: string) => {
      const node = resolve(raw)
      if (!node.properties && typeof node.additionalProperties !== 'object') return
      places.set(node, places.get(node) ?? { label, maps: [] })
      if (!isMap(value)) return
      note(node, label, value)
      for (const [key, sub] of Object.entries(node.properties ?? {})) {
        const shared = /^#\/definitions\/(\w+)\/properties\//.exec(sub.$ref ?? '')?.[1]
        if (shared && key in value) note(resolve({ $ref: `#/definitions/${shared}` }), label, { [key]: value[key] })
        if (key in value) visit(sub, value[key], `${label}.${key}`)
      }
      if (typeof node.additionalProperties === 'object') {
        for (const [key, sub] of Object.entries(value)) if (!node.properties?.[key]) visit(node.additionalProperties, sub, `${label}.${key}`)
      }
    }
    visit(schema, block, 'manifest')
    const missing: string[] = []
    for (const [node, { label, maps }] of places) {
      for (const key of Object.keys(node.properties ?? {})) if (!maps.some((map) => key in map)) missing.push(`${label}: ${key}`)
    }
    expect(missing, 'fields of schema.json missing from the README manifest reference').toEqual([])
    // The objects the schema defines are all reached: top level, defaults, providers and their settings, budget, security, recipes.
    expect([...places.values()].map((place) => place.label)).toEqual(
      expect.arrayContaining([
        'manifest',
        'manifest.defaults',
        'manifest.providers',
        'manifest.providers.toapis',
        'manifest.budget',
        'manifest.security',
        'manifest.recipes',
      ]),
    )
  })

  it('every setting has a comment, and the block is a valid manifest', async ({ expect }) => {
    const text = await manifestReference()
    // Top-level fields and the settings under defaults, providers, budget and security each say
    // what they do on their line (vars and recipes are examples; a map key is explained by its children).
    const lines = text.split('\n')
    let section = ''
    const uncommented = lines.filter((line, index) => {
      if (/^\S/.test(line)) section = line.split(':')[0] ?? ''
      if (!/^\s*[A-Za-z][\w-]*:/.test(line) || line.includes('#')) return false
      const indent = line.length - line.trimStart().length
      const next = lines[index + 1] ?? ''
      const isParent = next.length - next.trimStart().length > indent
      return indent === 0 ? !isParent : ['defaults', 'providers', 'budget', 'security'].includes(section) && !isParent
    })
    expect(uncommented).toEqual([])

    const dir = await project(text)
    await writeImages(dir, {
      'refs/city.png': {},
      'refs/portrait.jpg': { format: 'jpeg' },
      'refs/marble.jpg': { format: 'jpeg' },
      'refs/products/mug.jpg': { format: 'jpeg' },
    })
    await writeFiles(dir, { 'masks/portrait-bg.png': await makeMask(64, 48) })
    const result = await runCli(['validate'], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toBe('')
  })
})
