/**
 * Issue 13, the edges of candidates and picks found in review: a picked image that is gone is
 * never swapped for another one (a frozen build refuses, pick does not claim it); a fresh clone
 * with only the picked images pays for none of the others, also when n grows; picking on a fresh
 * clone and after candidates grow is free; a hand edit of `image:` is a hand edit; a pick
 * survives a recipe change and its revert.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'vitest'
import { readLockFile, runCli, sha256File, tempDir } from '../helpers.js'
import { Resources, readRecords, serverEnv } from '../providers/harness.js'

const NO_KEYS = { TOAPIS_API_KEY: undefined, AA_API_KEY: undefined, OPENAI_API_KEY: undefined, IMAGES_EDIT_REMOTE: undefined, CI: undefined }

async function setup(resources: Resources, recipe: Record<string, unknown>) {
  const server = await resources.server({ latencyMs: 0 })
  const dir = await resources.project({ provider: 'aa', recipes: { hero: { prompt: 'a hero banner', refs: ['refs/a.png'], ...recipe } } })
  const env = { ...NO_KEYS, ...serverEnv(server) }
  const cli = (args: string[], cwd = dir, extra: Record<string, string | undefined> = {}) => runCli(args, { cwd, env: { ...env, ...extra } })
  const shas = async () => (await readRecords(dir))[0]?.takes[0]?.images.map((image) => image.sha256) ?? []
  return { server, dir, cli, shas }
}

async function cloneOf(resources: Resources, dir: string, withOutputs: boolean): Promise<string> {
  const { dir: clone, cleanup } = await tempDir('images-edit-clone-')
  resources.add(cleanup)
  for (const entry of ['images.edit.yaml', 'refs', 'masks', 'images.edit.lock', ...(withOutputs ? ['out'] : [])])
    await cp(join(dir, entry), join(clone, entry), { recursive: true })
  return clone
}

const objectPath = (dir: string, sha: string) => join(dir, '.images-edit/objects', sha.slice(0, 2), sha.slice(2))

describe.concurrent('candidates and picks at their edges', () => {
  it('a frozen build never serves an image the lock does not pin (picked object and output gone)', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli, shas } = await setup(resources, { candidates: 4 })
    await cli(['build'])
    await cli(['pick', 'hero', '1/3'])
    const [, , third] = await shas()
    await rm(join(dir, 'out/hero.png'))
    await rm(objectPath(dir, third as string))
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    const frozen = await cli(['build', '--frozen'], dir, { CI: 'true' })
    expect(frozen.code, frozen.stdout).not.toBe(0)
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toBe(lock)
  })

  it('pick says "now image 3" only when out/ has image 3', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli, shas } = await setup(resources, { candidates: 4 })
    await cli(['build'])
    const all = await shas()
    await rm(objectPath(dir, all[2] as string))
    const picked = await cli(['pick', 'hero', '1/3'])
    const now = await sha256File(join(dir, 'out/hero.png'))
    expect(picked.code === 0 ? now : all[2]).toBe(all[2])
    expect((await readLockFile(dir)).jobs.hero).toMatchObject({ candidates: 4 })
  })

  it('on a fresh clone (lock + committed outputs), swapping the two pinned outputs is free', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli, server } = await setup(resources, { candidates: 4, n: 2 })
    await cli(['build'])
    const clone = await cloneOf(resources, dir, true)
    const swapped = await cli(['pick', 'hero', '1/2,1'], clone)
    expect(swapped.code, swapped.stderr).toBe(0)
    expect(server.submits()).toBe(1)
  })

  it('growing candidates in the manifest does not make pick refuse', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli } = await setup(resources, { candidates: 3 })
    await cli(['build'])
    await writeFile(join(dir, 'images.edit.yaml'), (await readFile(join(dir, 'images.edit.yaml'), 'utf8')).replace('"candidates": 3', '"candidates": 5'))
    const picked = await cli(['pick', 'hero', '1/2'])
    expect(picked.code, picked.stderr).toBe(0)
  })

  it('n grows on a fresh clone that has only the picked candidate: nothing is paid, nothing replaced, and the plan says what to do', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli, server, shas } = await setup(resources, { candidates: 4 })
    await cli(['build'])
    await cli(['pick', 'hero', '1/3'])
    const picked = (await shas())[2]
    const clone = await cloneOf(resources, dir, true)
    await writeFile(
      join(clone, 'images.edit.yaml'),
      (await readFile(join(clone, 'images.edit.yaml'), 'utf8')).replace('"candidates": 4', '"candidates": 4, "n": 2'),
    )
    const lock = await readFile(join(clone, 'images.edit.lock'), 'utf8')
    const built = await cli(['build', '--verbose'], clone)
    // Remaking take 1 here would pay for all 4 candidates again and replace the committed pick.
    expect(built.code).toBe(1)
    expect(built.stdout).toMatch(/take 1, which has 4 images, of which only 0 are here: nothing is generated again/)
    expect(built.stdout).toMatch(/images-edit pull, build where the take is, or --force hero/)
    expect(server.submits()).toBe(1)
    expect(await sha256File(join(clone, 'out/hero.png'))).toBe(picked)
    expect(await readFile(join(clone, 'images.edit.lock'), 'utf8')).toBe(lock)
    // Where the take is, the same change is free: image 1 becomes the second output.
    await writeFile(join(dir, 'images.edit.yaml'), await readFile(join(clone, 'images.edit.yaml'), 'utf8'))
    expect((await cli(['build'])).stdout).toMatch(/0 new images/)
    expect(server.submits()).toBe(1)
    expect(await sha256File(join(dir, 'out/hero-1.png'))).toBe(picked)
    expect(await sha256File(join(dir, 'out/hero-2.png'))).toBe((await shas())[0])
  })

  it('a lock hand-edited to image: 99 is a hand edit (not laundered into candidates: 99)', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli } = await setup(resources, { candidates: 4 })
    await cli(['build'])
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    await writeFile(join(dir, 'images.edit.lock'), lock.replace('      - path: out/hero.png\n', '      - path: out/hero.png\n        image: 99\n'))
    const built = await cli(['build'])
    expect(built.code, built.stdout).toBe(2)
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).not.toMatch(/candidates: 99/)
  })

  it('a pick survives a prompt change and its revert', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli, shas } = await setup(resources, { candidates: 3 })
    await cli(['build'])
    await cli(['build', '--force', 'hero'])
    await cli(['pick', 'hero', '1/3'])
    const third = (await shas())[2]
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(third)
    const manifest = await readFile(join(dir, 'images.edit.yaml'), 'utf8')
    await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('a hero banner', 'a hero banner v2'))
    await cli(['build'])
    await writeFile(join(dir, 'images.edit.yaml'), manifest)
    await cli(['build'])
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(third)
  })
})
