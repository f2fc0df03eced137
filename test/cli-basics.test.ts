import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { ANSI, exists, imageInfo, listFiles, parseJsonLines, readLockFile, runCli, STACK_LINE, tempDir, writeFiles, writeImages } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
// Tests run concurrently (files run one at a time on a 2-core machine): clean up once all are done.
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function project(manifest?: string): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-basics-')
  cleanups.push(cleanup)
  await writeImages(dir, {
    'refs/a.png': { color: { r: 200, g: 80, b: 40 } },
    'refs/b.png': { color: { r: 30, g: 90, b: 220 } },
  })
  if (manifest !== undefined) await writeFiles(dir, { 'images.edit.yaml': manifest })
  return dir
}

/** One recipe per size/format the issue names, plus a two-ref blend. */
const SIZES_MANIFEST = `version: 1
out: out
defaults:
  provider: local
recipes:
  hero:
    prompt: a cyberpunk poster
    refs: [refs/a.png]
    ratio: "16:9"
    resolution: 2k
  square:
    prompt: blend the two references
    refs: [refs/a.png, refs/b.png]
    ratio: "1:1"
    resolution: 1k
  tall:
    prompt: a tall banner
    refs: [refs/b.png]
    ratio: "9:16"
    resolution: 1k
    format: jpeg
  wide:
    prompt: a webp card
    refs: [refs/a.png]
    ratio: "4:3"
    format: webp
`

describe.concurrent('CLI basics, end to end', () => {
  it('init writes a starter manifest and a .gitignore line, refuses to overwrite, and the starter builds', async ({ expect }) => {
    const { dir, cleanup } = await tempDir('images-edit-init-')
    cleanups.push(cleanup)
    await writeFiles(dir, { '.gitignore': 'node_modules/' })

    const first = await runCli(['init'], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    const manifest = await readFile(join(dir, 'images.edit.yaml'), 'utf8')
    expect(manifest).toMatch(/^version: 1$/m)
    expect(manifest).toMatch(/^recipes:$/m)
    const gitignore = (await readFile(join(dir, '.gitignore'), 'utf8')).split('\n')
    expect(gitignore).toContain('node_modules/')
    expect(gitignore).toContain('.images-edit/')

    // Refuses to overwrite, leaves both files as they were.
    await writeFiles(dir, { 'images.edit.yaml': `${manifest}# my edit\n` })
    const second = await runCli(['init'], { cwd: dir })
    expect(second.code).toBe(2)
    expect(second.stderr).toMatch(/already exists/)
    expect(second.stderr).not.toMatch(STACK_LINE)
    expect(await readFile(join(dir, 'images.edit.yaml'), 'utf8')).toBe(`${manifest}# my edit\n`)
    expect((await readFile(join(dir, '.gitignore'), 'utf8')).split('\n').filter((line) => line === '.images-edit/')).toHaveLength(1)

    // The starter manifest works once its reference image exists.
    await writeImages(dir, { 'refs/example.png': {} })
    const validate = await runCli(['validate'], { cwd: dir })
    expect(validate.code, validate.stderr).toBe(0)
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code, build.stderr + build.stdout).toBe(0)
    expect(await imageInfo(join(dir, 'generated/example.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })
  })

  it('validate: exit 0 on a valid manifest, exit 2 with file:line:col and no stack trace on an invalid one', async ({ expect }) => {
    const dir = await project(SIZES_MANIFEST)
    const valid = await runCli(['validate'], { cwd: dir })
    expect(valid.code, valid.stderr).toBe(0)
    expect(valid.stdout).toMatch(/images\.edit\.yaml is valid: 4 jobs/)

    await writeFiles(dir, { 'images.edit.yaml': SIZES_MANIFEST.replace('resolution: 2k', 'resolution: 3k') })
    const invalid = await runCli(['validate'], { cwd: dir })
    expect(invalid.code).toBe(2)
    // `resolution: 3k` is line 10, the value starts at column 17.
    expect(invalid.stderr).toMatch(/images\.edit\.yaml:10:17: error: .*resolution/)
    expect(invalid.stderr).toContain('resolution: 3k')
    expect(invalid.stderr).toMatch(/fix: /)
    expect(invalid.stderr).not.toMatch(STACK_LINE)
    expect(invalid.stderr).not.toMatch(/internal error/)

    // Every problem is reported, not only the first.
    await writeFiles(dir, { 'images.edit.yaml': SIZES_MANIFEST.replace('resolution: 2k', 'resolution: 3k').replace('format: webp', 'format: gif') })
    const two = await runCli(['validate'], { cwd: dir })
    expect(two.code).toBe(2)
    expect(two.stderr).toMatch(/images\.edit\.yaml:10:17: /)
    expect(two.stderr).toMatch(/images\.edit\.yaml:26:13: .*format/)
    expect(two.stderr).toMatch(/2 errors/)
  })

  it('plan shows each job, why, and how many images would be generated and paid for', async ({ expect }) => {
    const dir = await project(SIZES_MANIFEST)
    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.code, plan.stderr).toBe(0)
    for (const id of ['hero', 'square', 'tall', 'wide']) {
      expect(plan.stdout).toMatch(new RegExp(`^\\+ ${id}: generate 1 image on local \\(free\\)\\n    why: new recipe \\(not in the lock\\)$`, 'm'))
    }
    expect(plan.stdout).toMatch(/4 jobs: 0 up to date, 0 to restore, 4 to generate, 0 blocked/)
    expect(plan.stdout).toMatch(/^4 new images would be generated, 0 paid$/m)
    // plan does no work.
    expect(await exists(join(dir, 'out'))).toBe(false)
    expect(await exists(join(dir, 'images.edit.lock'))).toBe(false)
  })

  it('plan counts paid images on a hosted provider without asking for an API key', async ({ expect }) => {
    const dir = await project(`version: 1
recipes:
  paid:
    provider: toapis
    prompt: a paid edit
    refs: [refs/a.png]
    n: 2
`)
    const env = { TOAPIS_API_KEY: undefined, IMAGES_EDIT_TOAPIS_BASE_URL: 'http://127.0.0.1:9' }
    const plan = await runCli(['plan'], { cwd: dir, env })
    expect(plan.code, plan.stderr).toBe(0)
    // toapis publishes no price: said, never guessed.
    expect(plan.stdout).toMatch(/^\+ paid: generate 2 images on toapis \(paid\) — no known price$/m)
    expect(plan.stdout).toMatch(/^2 new images would be generated, 2 paid$/m)
    expect(plan.stdout).toMatch(/^2 images on toapis\/gpt-image-1\.5-official have no known price \(set prices\.toapis\."gpt-image-1\.5-official" in /m)
    const status = await runCli(['status'], { cwd: dir, env })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^paid\s+stale/m)
    expect(status.stdout).toMatch(/0\/1 up to date/)
  })

  it('build writes outputs of the exact size and format for ratio × resolution, and status says up to date', async ({ expect }) => {
    const dir = await project(SIZES_MANIFEST)
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code, build.stderr + build.stdout).toBe(0)
    expect(build.stdout).toMatch(/4 generated \(4 new images\), 0 up to date, 0 restored, 0 failed/)
    expect(build.stdout).toMatch(/images\.edit\.lock updated/)

    const expected = {
      'out/hero.png': { width: 2048, height: 1152, format: 'png' },
      'out/square.png': { width: 1024, height: 1024, format: 'png' },
      'out/tall.jpg': { width: 864, height: 1536, format: 'jpeg' },
      'out/wide.webp': { width: 1024, height: 768, format: 'webp' },
    }
    expect(await listFiles(join(dir, 'out'))).toEqual(Object.keys(expected).map((path) => path.slice('out/'.length)))
    for (const [path, info] of Object.entries(expected)) expect(await imageInfo(join(dir, path)), path).toEqual(info)

    const lock = await readLockFile(dir)
    expect(Object.keys(lock.jobs).sort()).toEqual(['hero', 'square', 'tall', 'wide'])
    for (const entry of Object.values(lock.jobs)) {
      for (const output of entry.outputs) {
        expect({ width: output.width, height: output.height, format: output.format }).toEqual(expected[output.path as keyof typeof expected])
      }
    }
    expect(lock.jobs.square?.refs.map((ref) => ref.path)).toEqual(['refs/a.png', 'refs/b.png'])

    const status = await runCli(['status'], { cwd: dir })
    expect(status.code, status.stderr).toBe(0)
    for (const id of ['hero', 'square', 'tall', 'wide']) expect(status.stdout).toMatch(new RegExp(`^${id}\\s+up to date`, 'm'))
    expect(status.stdout).toMatch(/^4\/4 up to date$/m)
  })

  it('--json prints one JSON object per line for build, plan, status, validate and gc', async ({ expect }) => {
    const dir = await project(SIZES_MANIFEST)
    const build = await runCli(['build', '--json'], { cwd: dir })
    expect(build.code, build.stderr).toBe(0)
    const events = parseJsonLines(build.stdout)
    expect(events[0]).toMatchObject({ type: 'plan', total: 4, generate: 4, newImages: 4, paidImages: 0 })
    expect(
      events
        .filter((event) => event.type === 'job:done')
        .map((event) => event.id)
        .sort(),
    ).toEqual(['hero', 'square', 'tall', 'wide'])
    expect(events.at(-1)).toMatchObject({ type: 'run:done', done: 4, failed: 0, newImages: 4, interrupted: false })

    for (const args of [
      ['plan', '--json'],
      ['status', '--json'],
      ['validate', '--json'],
      ['gc', '--dry-run', '--json'],
    ]) {
      const result = await runCli(args, { cwd: dir })
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0)
      const lines = result.stdout.split('\n').filter((line) => line !== '')
      expect(lines, args.join(' ')).toHaveLength(1)
      const value = JSON.parse(lines[0] ?? '') as unknown
      expect(typeof value === 'object' && value !== null && !Array.isArray(value), args.join(' ')).toBe(true)
    }
    const plan = JSON.parse((await runCli(['plan', '--json'], { cwd: dir })).stdout) as { newImages: number; jobs: { id: string; status: string }[] }
    expect(plan.newImages).toBe(0)
    expect(plan.jobs.map((job) => job.status)).toEqual(['fresh', 'fresh', 'fresh', 'fresh'])
    const status = JSON.parse((await runCli(['status', '--json'], { cwd: dir })).stdout) as { jobs: { id: string; state: string }[] }
    expect(status.jobs.map((job) => [job.id, job.state])).toEqual([
      ['hero', 'up-to-date'],
      ['square', 'up-to-date'],
      ['tall', 'up-to-date'],
      ['wide', 'up-to-date'],
    ])
  })

  it('NO_COLOR output has no ANSI escapes, even when colour is forced', async ({ expect }) => {
    const dir = await project(SIZES_MANIFEST)
    // Control: with colour forced and NO_COLOR unset the CLI does colour, so the check below can fail.
    const coloured = await runCli(['plan'], { cwd: dir, env: { NO_COLOR: undefined, FORCE_COLOR: '1' } })
    expect(coloured.code).toBe(0)
    expect(coloured.stdout).toMatch(ANSI)

    const env = { NO_COLOR: '1', FORCE_COLOR: '1' }
    for (const args of [['plan'], ['build'], ['status'], ['gc', '--dry-run'], ['validate']]) {
      const result = await runCli(args, { cwd: dir, env })
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0)
      expect(result.stdout + result.stderr, args.join(' ')).not.toMatch(ANSI)
    }
    await writeFiles(dir, { 'images.edit.yaml': SIZES_MANIFEST.replace('resolution: 2k', 'resolution: 3k') })
    const invalid = await runCli(['validate'], { cwd: dir, env })
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toMatch(/images\.edit\.yaml:10:17/)
    expect(invalid.stderr).not.toMatch(ANSI)
  })

  it('unknown commands, options and bad option values exit 2 with a usage message', async ({ expect }) => {
    const dir = await project(SIZES_MANIFEST)
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['build', '--frobnicate'], /unknown option --frobnicate for `build`/],
      [['status', '--max-images', '3'], /--max-images applies to `build` only/],
      [['build', '--max-images', 'many'], /--max-images must be a whole number/],
      [['build', '--provider', 'nope'], /--provider must be one of/],
      [['build', 'no-such-recipe'], /unknown recipe: no-such-recipe/],
      [['build', '--frozen', '--no-frozen'], /contradict/],
    ]
    for (const [args, message] of cases) {
      const result = await runCli(args, { cwd: dir })
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(message)
      expect(result.stderr, args.join(' ')).not.toMatch(STACK_LINE)
    }
    expect(await exists(join(dir, 'out'))).toBe(false)
    expect(await exists(join(dir, 'images.edit.lock'))).toBe(false)

    // No manifest anywhere up the tree: a usage error, not a crash.
    const { dir: empty, cleanup } = await tempDir('images-edit-empty-')
    cleanups.push(cleanup)
    const missing = await runCli(['build'], { cwd: empty })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no images\.edit\.yaml/)
  })
})
