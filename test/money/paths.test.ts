/**
 * Touching what is not ours (issue 9, points 12–14): every folder images-edit writes into is
 * checked where it really leads, at validation (located) and again right before the write; paths
 * read from the lock and the output ledger are checked the same way; outputs never land on the
 * lock, the manifest, `.env` or inside `.images-edit/`, `.git/`, `node_modules/`.
 */
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'vitest'
import { exists, listFiles, makeImage, runCli, STACK_LINE, sha256File, startCli, tempDir, writeFiles } from '../helpers.js'
import { Resources, requestsOn, serverEnv } from '../providers/harness.js'

const manifest = (body: string, head = 'out: out\n') => `version: 1\n${head}defaults:\n  provider: local\nrecipes:\n${body}`

/** A project beside a folder `outside/` that must never be touched. */
async function setup(resources: Resources, manifestText: string): Promise<{ root: string; dir: string; outside: string }> {
  const { dir: root, cleanup } = await tempDir('images-edit-paths-')
  resources.add(cleanup)
  const dir = join(root, 'project')
  const outside = join(root, 'outside')
  await mkdir(outside, { recursive: true })
  await writeFiles(dir, { 'refs/a.png': await makeImage(), 'images.edit.yaml': manifestText })
  return { root, dir, outside }
}

async function diagnostics(dir: string): Promise<{ code: number | null; rules: [string, number, number][] }> {
  const result = await runCli(['validate', '--json'], { cwd: dir })
  const parsed = JSON.parse(result.stdout) as { diagnostics: { rule: string; line: number; column: number; severity: string }[] }
  return { code: result.code, rules: parsed.diagnostics.filter((item) => item.severity === 'error').map((item) => [item.rule, item.line, item.column]) }
}

const hero = '  hero:\n    prompt: paths hero\n    refs: [refs/a.png]\n'

describe.concurrent('outputs only ever go where they really stay inside the project', () => {
  it('`out` a symlink to a folder outside: validate fails located at `out`; build writes nothing outside', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, outside } = await setup(resources, manifest(hero))
    await symlink(outside, join(dir, 'out'))
    expect(await diagnostics(dir)).toEqual({ code: 2, rules: [['out/outside-project', 2, 6]] })
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code).toBe(2)
    expect(build.stderr).toMatch(/outside the project/)
    expect(await listFiles(outside)).toEqual([])
  })

  it('a folder under `out` a symlink outside (also dangling, also as `each` fan-out): refused at the recipe’s `name`, nothing written outside', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const body = `${hero}  fan:\n    each: refs/*.png\n    prompt: paths fan {stem}\n    refs: ["{file}"]\n    name: "gone/{stem}.{ext}"\n  shot:\n    prompt: p\n    refs: [refs/a.png]\n    name: "deep/er/{recipe}-{index}.{ext}"\n    n: 2\n`
    const { dir, outside } = await setup(resources, manifest(body))
    await mkdir(join(dir, 'out'), { recursive: true })
    await symlink(outside, join(dir, 'out', 'deep'))
    await symlink(join(outside, 'not-yet'), join(dir, 'out', 'gone'))
    const found = await diagnostics(dir)
    expect(found.code).toBe(2)
    expect(found.rules).toEqual([
      ['name/outside-project', 13, 11],
      ['name/outside-project', 17, 11],
    ])
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code).toBe(2)
    expect(await listFiles(outside)).toEqual([])
    expect(await exists(join(outside, 'not-yet'))).toBe(false)
  })

  it('the output folder swapped for a symlink after validation, while the paid call runs: nothing written outside, the paid result kept, the rerun free', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server({ latencyMs: 1500 })
    const dir = await resources.project({ provider: 'toapis', recipes: { hero: { prompt: 'swap hero', refs: ['refs/a.png'] } } })
    const outside = join(dir, '..', `${dir.split('/').pop()}-outside`)
    await mkdir(outside, { recursive: true })
    resources.add(() => rm(outside, { recursive: true, force: true }))
    await mkdir(join(dir, 'out'))
    const env = serverEnv(server)
    const running = startCli(['build'], { cwd: dir, env })
    for (let tries = 0; requestsOn(server, 'toapis.submit').length === 0; tries++) {
      if (tries > 2400) throw new Error(`no submit seen:\n${running.stdout()}\n${running.stderr()}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    await rename(join(dir, 'out'), join(dir, 'out-real'))
    await symlink(outside, join(dir, 'out'))
    const { code } = await running.exited
    expect(code, running.stdout() + running.stderr()).toBe(1)
    expect(running.stdout() + running.stderr()).toMatch(/refusing to write out\/hero\.png.*outside the project/)
    expect(running.stderr()).not.toMatch(STACK_LINE)
    expect(await listFiles(outside)).toEqual([])
    expect(server.submits()).toBe(1)

    await rm(join(dir, 'out'))
    await rename(join(dir, 'out-real'), join(dir, 'out'))
    const rerun = await runCli(['build'], { cwd: dir, env })
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0)
    expect(server.submits()).toBe(1)
    expect(await listFiles(join(dir, 'out'))).toEqual(['hero.png'])
  })
})

describe.concurrent('paths read from the lock and the ledger are checked like manifest paths', () => {
  it('a lock naming an output outside the project with that file’s sha256: a fresh-clone build refuses the lock, copies nothing', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, outside } = await setup(resources, manifest(hero))
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    await writeFile(join(outside, 'secret.png'), await makeImage({ width: 33, height: 33 }))
    const secret = await sha256File(join(outside, 'secret.png'))
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    const sha = await sha256File(join(dir, 'out/hero.png'))
    for (const path of ['../outside/secret.png', `${outside}/secret.png`, 'out/../../outside/secret.png']) {
      await writeFile(join(dir, 'images.edit.lock'), lock.replace('path: out/hero.png', `path: ${path}`).replace(sha, secret))
      await rm(join(dir, '.images-edit'), { recursive: true, force: true })
      await rm(join(dir, 'out'), { recursive: true, force: true })
      for (const command of [['build'], ['build', '--force-lock'], ['status']]) {
        const result = await runCli(command, { cwd: dir })
        expect(result.code, `${command.join(' ')} with ${path}: ${result.stdout}${result.stderr}`).toBe(1)
        expect(result.stderr).toMatch(/images\.edit\.lock.*outside the project/)
        expect(result.stderr).not.toMatch(STACK_LINE)
      }
      expect(await listFiles(join(dir, 'out'))).toEqual([])
      const stored = await listFiles(join(dir, '.images-edit', 'objects'))
      expect(stored.map((name) => name.replace('/', ''))).not.toContain(secret)
    }
  })

  it('a lock output path through a symlinked folder leading outside: refused, nothing read from outside', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, outside } = await setup(resources, manifest(hero))
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    await writeFile(join(outside, 'secret.png'), await makeImage({ width: 33, height: 33 }))
    const secret = await sha256File(join(outside, 'secret.png'))
    const sha = await sha256File(join(dir, 'out/hero.png'))
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    await writeFile(join(dir, 'images.edit.lock'), lock.replace('path: out/hero.png', 'path: peek/secret.png').replace(sha, secret))
    await symlink(outside, join(dir, 'peek'))
    await rm(join(dir, '.images-edit'), { recursive: true, force: true })
    await rm(join(dir, 'out'), { recursive: true, force: true })
    const result = await runCli(['build'], { cwd: dir })
    expect(result.code, result.stdout + result.stderr).toBe(1)
    expect(result.stdout + result.stderr).toMatch(/peek\/secret\.png.*outside the project/)
    const stored = await listFiles(join(dir, '.images-edit', 'objects'))
    expect(stored.map((name) => name.replace('/', ''))).not.toContain(secret)
  })

  it('the output ledger listing files outside the project (../, absolute, through a link): gc ignores them and deletes nothing', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, outside } = await setup(resources, manifest(hero))
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    await writeFile(join(outside, 'victim.txt'), 'keep me\n')
    await writeFile(join(outside, 'victim2.txt'), 'keep me too\n')
    await writeFile(join(outside, 'victim3.txt'), 'and me\n')
    await symlink(outside, join(dir, 'out', 'link'))
    const ledgerPath = join(dir, '.images-edit', 'outputs.json')
    const ledger = JSON.parse(await readFile(ledgerPath, 'utf8')) as Record<string, string>
    ledger['../outside/victim.txt'] = await sha256File(join(outside, 'victim.txt'))
    ledger[join(outside, 'victim2.txt')] = await sha256File(join(outside, 'victim2.txt'))
    ledger['out/link/victim3.txt'] = await sha256File(join(outside, 'victim3.txt'))
    await writeFile(ledgerPath, JSON.stringify(ledger))
    const dry = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).not.toMatch(/victim/)
    const gc = await runCli(['gc'], { cwd: dir })
    expect(gc.code, gc.stderr).toBe(0)
    expect(await listFiles(outside)).toEqual(['victim.txt', 'victim2.txt', 'victim3.txt'])
    expect(await exists(join(dir, 'out/hero.png'))).toBe(true)
  })
})

describe.concurrent('outputs never overwrite the files images-edit keeps', () => {
  it('names resolving to the lock, the manifest, .env or into .images-edit/.git/node_modules are refused at validation, located at `name`', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const names = [
      'images.edit.lock',
      'IMAGES.EDIT.YAML',
      '.env',
      '.env.local',
      '.images-edit/x.{ext}',
      '.git/hooks/x.{ext}',
      'node_modules/x.{ext}',
      'sub/../images.edit.lock',
    ]
    const body = names.map((name, index) => `  r${index}:\n    prompt: p${index}\n    refs: [refs/a.png]\n    name: "${name}"\n`).join('')
    const fan = '  fan:\n    each: refs/*.png\n    prompt: fan {stem}\n    refs: ["{file}"]\n    name: "{stem}.lock"\n'
    const indexed = '  many:\n    prompt: many\n    refs: [refs/a.png]\n    n: 2\n    name: "{recipe}{index}/../.env"\n'
    const { dir } = await setup(resources, manifest(body + fan + indexed, 'out: .\n'))
    await writeFiles(dir, { 'refs/images.edit.png': await makeImage({ width: 20, height: 20 }), '.env': 'X=1\n' })
    const lockBefore = await exists(join(dir, 'images.edit.lock'))
    const found = await diagnostics(dir)
    expect(found.code).toBe(2)
    const nameLines = names.map((_, index) => 9 + index * 4)
    expect(found.rules).toEqual([
      ...nameLines.map((line): [string, number, number] => ['name/reserved', line, 11]),
      ['name/reserved', 9 + names.length * 4 + 1, 11],
      ['name/reserved', 9 + names.length * 4 + 6, 11],
    ])
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code).toBe(2)
    expect(await exists(join(dir, 'images.edit.lock'))).toBe(lockBefore)
    expect(await readFile(join(dir, '.env'), 'utf8')).toBe('X=1\n')
  })

  it('`out` that is .images-edit (or inside .git), or reaches the root through a link: refused at `out` / `name`', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir } = await setup(resources, manifest(hero, 'out: .images-edit/out\n'))
    expect(await diagnostics(dir)).toEqual({ code: 2, rules: [['out/reserved', 2, 6]] })
    await writeFile(join(dir, 'images.edit.yaml'), manifest(hero, 'out: .git\n'))
    expect(await diagnostics(dir)).toEqual({ code: 2, rules: [['out/reserved', 2, 6]] })
    // out/up → the project root: `up/images.edit.lock` is the lock itself.
    await writeFile(join(dir, 'images.edit.yaml'), manifest(`${hero}    name: up/images.edit.lock\n`))
    await mkdir(join(dir, 'out'), { recursive: true })
    await symlink(dir, join(dir, 'out', 'up'))
    expect(await diagnostics(dir)).toEqual({ code: 2, rules: [['name/reserved', 9, 11]] })
  })
})
