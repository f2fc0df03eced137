import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { exists, listFiles, makeImage, makeMask, runCli, STACK_LINE, tempDir, writeFiles, writeImages } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** A project folder with good and bad reference files and the given manifest. */
async function project(manifest: string): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-bad-')
  cleanups.push(cleanup)
  await writeImages(dir, { 'refs/a.png': {}, 'refs/b.jpg': { format: 'jpeg' }, 'masks/opaque.png': {} })
  await writeFiles(dir, {
    'refs/not-an-image.png': 'this is text, not a PNG\n',
    'refs/empty.png': '',
    'masks/small.png': await makeMask(32, 32),
    'images.edit.yaml': manifest,
  })
  return dir
}

/** A manifest whose recipe `r` has the given extra lines (indented by the caller). */
const recipe = (lines: string) => `version: 1
out: out
defaults:
  provider: local
recipes:
  ok:
    prompt: a valid recipe next to the broken one
    refs: [refs/a.png]
  r:
${lines}`

const seventeen = Array.from({ length: 17 }, () => 'refs/a.png').join(', ')

/** [name, manifest text, line, column, message] — line and column of the offending node, 1-based (column 0: any). */
const cases: [string, string, number, number, RegExp][] = [
  ['missing ref', recipe('    prompt: x\n    refs: [refs/nope.png]\n'), 11, 12, /refs\/nope\.png does not exist/],
  ['text file named .png', recipe('    prompt: x\n    refs: [refs/not-an-image.png]\n'), 11, 12, /not an image/],
  ['17 refs', recipe(`    prompt: x\n    refs: [${seventeen}]\n`), 11, 0, /17 items; at most 16/],
  ['unknown field', recipe('    prompt: x\n    colour: red\n    refs: [refs/a.png]\n'), 11, 5, /unknown field `colour`/],
  ['YAML syntax error', recipe('    prompt: [unclosed\n    refs: [refs/a.png]\n'), 10, 13, /Flow sequence|flow collection|unclosed|indent/i],
  ['tab indentation', recipe('\tprompt: x\n'), 10, 1, /tab/i],
]

/**
 * Many broken recipes in one manifest, one problem each: [recipe body lines, offset of the
 * offending line within the body, column, message]. Checked with one `validate` and one `build`.
 */
const broken: [string[], number, number, RegExp][] = [
  [['prompt: x', 'refs: [refs/a.png, refs/empty.png]'], 1, 24, /empty\.png/],
  [['prompt: x', 'refs: [refs/a.png]', 'ratio: "7:5"'], 2, 12, /ratio must be one of/],
  [['prompt: x', 'refs: [refs/a.png]', 'n: 11'], 2, 8, /\bn\b.*(10|at most)/],
  [['refs: [refs/a.png]'], -1, 3, /prompt/],
  [['prompt: x', 'refs: [refs/a.png]', 'mask: masks/opaque.png'], 2, 11, /no alpha channel/],
  [['prompt: x', 'refs: [refs/a.png]', 'mask: masks/small.png'], 2, 11, /32×32 but the first ref/],
  [['prompt: x {nope}', 'refs: [refs/a.png]'], 0, 15, /unknown token \{nope\}/],
  [['each: "refs/none/*.png"', 'prompt: x', 'refs: ["{file}"]'], 0, 11, /matches no file/],
  [['prompt: x', 'refs: [refs/a.png]', 'name: ../../escape.png'], 2, 11, /escape\.png|outside|inside/],
  [['prompt: x', 'refs: [refs/a.png]', 'resolution: 4k', 'ratio: "1:1"'], 2, 17, /4k/],
]

function brokenManifest(): { text: string; expected: { line: number; column: number; message: RegExp }[] } {
  const lines = ['version: 1', 'out: out', 'defaults:', '  provider: local', 'recipes:']
  const expected: { line: number; column: number; message: RegExp }[] = []
  broken.forEach(([body, offset, column, message], index) => {
    lines.push(`  broken${index + 1}:`)
    // The recipe's own line is 1-based lines.length; its body starts on the next line.
    expected.push({ line: lines.length + 1 + offset, column, message })
    lines.push(...body.map((line) => `    ${line}`))
  })
  return { text: `${lines.join('\n')}\n`, expected }
}

describe.concurrent('bad input never crashes', () => {
  it.for(cases)('%s → validate and build exit 2 with images.edit.yaml:line:col and no stack trace', async ([, manifest, line, column, message], { expect }) => {
    const dir = await project(manifest)
    for (const command of ['validate', 'build']) {
      const result = await runCli([command], { cwd: dir })
      const where = `${command}:\n${result.stderr}`
      expect(result.code, where).toBe(2)
      expect(result.stderr, where).toMatch(new RegExp(`^images\\.edit\\.yaml:${line}:${column === 0 ? '\\d+' : column}: error: `, 'm'))
      expect(result.stderr, where).toMatch(message)
      expect(result.stderr, where).toMatch(/^ {2}fix: /m)
      expect(result.stdout + result.stderr, where).not.toMatch(STACK_LINE)
      expect(result.stdout + result.stderr, where).not.toMatch(/internal error|TypeError|ReferenceError/)
    }
    // Nothing was built, not even the valid recipe beside the broken one.
    expect(await exists(join(dir, 'out'))).toBe(false)
    expect(await exists(join(dir, 'images.edit.lock'))).toBe(false)
    expect(await listFiles(join(dir, '.images-edit/objects'))).toEqual([])
  })

  it('many broken recipes: each problem is reported on its own line and column, and build refuses them all', async ({ expect }) => {
    const { text, expected } = brokenManifest()
    const dir = await project(text)
    for (const command of ['validate', 'build']) {
      const result = await runCli([command], { cwd: dir })
      const where = `${command}:\n${result.stderr}`
      expect(result.code, where).toBe(2)
      const errorLines = result.stderr.split('\n').filter((line) => /^images\.edit\.yaml:\d+:\d+: error: /.test(line))
      for (const { line, column, message } of expected) {
        const prefix = `images.edit.yaml:${line}:${column}: error: `
        const found = errorLines.filter((item) => item.startsWith(prefix))
        expect(found.length, `${prefix} ${message}\n${where}`).toBeGreaterThan(0)
        expect(
          found.some((item) => message.test(item)),
          `${prefix} ${message}\n${where}`,
        ).toBe(true)
      }
      expect(result.stdout + result.stderr, where).not.toMatch(STACK_LINE)
    }
    expect(await exists(join(dir, 'out'))).toBe(false)
    expect(await exists(join(dir, 'images.edit.lock'))).toBe(false)
  })

  it('two recipes writing the same output file is an error on the second name', async ({ expect }) => {
    const dir = await project(recipe('    prompt: x\n    refs: [refs/a.png]\n    name: ok.png\n'))
    const result = await runCli(['validate'], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^images\.edit\.yaml:\d+:\d+: error: .*ok\.png/m)
    expect(result.stderr).not.toMatch(STACK_LINE)
  })

  it('reports every problem of a manifest at once, each with its own line', async ({ expect }) => {
    // r: two schema problems; s: a missing file; t: an unknown token. One recipe's problems do not hide another's.
    const dir = await project(
      `${recipe('    prompt: x\n    ratio: "7:5"\n    colour: red\n    refs: [refs/a.png]\n')}  s:\n    prompt: y\n    refs: [refs/nope.png]\n  t:\n    prompt: z {nope}\n    refs: [refs/a.png]\n`,
    )
    const result = await runCli(['validate'], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^images\.edit\.yaml:11:12: error: .*ratio/m)
    expect(result.stderr).toMatch(/^images\.edit\.yaml:12:5: error: .*colour/m)
    expect(result.stderr).toMatch(/^images\.edit\.yaml:16:12: error: .*refs\/nope\.png does not exist/m)
    expect(result.stderr).toMatch(/^images\.edit\.yaml:18:15: error: .*unknown token \{nope\}/m)
    expect(result.stderr).toMatch(/^4 errors in images\.edit\.yaml$/m)
  })

  it('a PNG named .jpg is accepted; a manifest that is not a mapping is an error, not a crash', async ({ expect }) => {
    const dir = await project(recipe('    prompt: x\n    refs: [refs/b.jpg, refs/fake.jpg]\n'))
    await writeFiles(dir, { 'refs/fake.jpg': await makeImage({ format: 'png' }) })
    const accepted = await runCli(['validate'], { cwd: dir })
    expect(accepted.code, accepted.stderr).toBe(0)

    for (const text of ['- just\n- a list\n', 'just a string\n', '']) {
      await writeFiles(dir, { 'images.edit.yaml': text })
      const result = await runCli(['validate'], { cwd: dir })
      expect(result.code, JSON.stringify(text)).toBe(2)
      expect(result.stderr, JSON.stringify(text)).toMatch(/^images\.edit\.yaml:\d+:\d+: error: /m)
      expect(result.stderr, JSON.stringify(text)).not.toMatch(STACK_LINE)
    }
  })
})
