/**
 * Issue 13, candidates and takes: a recipe asks for more candidates than outputs, all are paid once
 * and kept; `pick` makes another one the output for free; the lock records it, so a rebuild and a
 * fresh clone make zero calls; `--force` adds takes, `pick` goes back to an older one, and `gc`
 * keeps the take the lock points at. The real CLI against the fake aa server on 127.0.0.1.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'vitest'
import { exists, readLockFile, runCli, STACK_LINE, sha256File, tempDir } from '../helpers.js'
import { Resources, readRecords, serverEnv } from '../providers/harness.js'

const NO_KEYS = { TOAPIS_API_KEY: undefined, AA_API_KEY: undefined, OPENAI_API_KEY: undefined, IMAGES_EDIT_REMOTE: undefined }

interface TakesJson {
  jobs: {
    id: string
    take: number
    picks: number[]
    candidates: number
    takes: { take: number; current: boolean; images: { image: number; sha256: string; stored: boolean; outputs: string[] }[] }[]
  }[]
}

async function setup(resources: Resources, recipe: Record<string, unknown>) {
  const server = await resources.server({ latencyMs: 0 })
  const dir = await resources.project({ provider: 'aa', recipes: { hero: { prompt: 'a hero banner', refs: ['refs/a.png'], ...recipe } } })
  const env = { ...NO_KEYS, ...serverEnv(server) }
  const cli = async (args: string[], expected = 0, cwd = dir) => {
    const result = await runCli(args, { cwd, env })
    if (result.code !== expected)
      throw new Error(`images-edit ${args.join(' ')} exited ${result.code}, expected ${expected}\n${result.stdout}\n${result.stderr}`)
    return result
  }
  const takes = async (cwd = dir) => JSON.parse((await cli(['takes', '--json'], 0, cwd)).stdout) as TakesJson
  return { server, dir, cli, takes }
}

/** A fresh clone as git checks it out: manifest, refs, lock and (committed) outputs; no store. */
async function cloneOf(resources: Resources, dir: string, withOutputs: boolean): Promise<string> {
  const { dir: clone, cleanup } = await tempDir('images-edit-clone-')
  resources.add(cleanup)
  for (const entry of ['images.edit.yaml', 'refs', 'masks', 'images.edit.lock', ...(withOutputs ? ['out'] : [])]) {
    await cp(join(dir, entry), join(clone, entry), { recursive: true })
  }
  return clone
}

describe.concurrent('candidates, takes and pick', () => {
  it('candidates are paid once; a pick is free and instant; the rebuild and a fresh clone make zero calls and keep the pick', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir, cli, takes } = await setup(resources, { candidates: 3 })
    await cli(['build'])
    expect(server.submits()).toBe(1)
    const [record] = await readRecords(dir)
    expect(record?.takes[0]?.images).toHaveLength(3)
    const listed = (await takes()).jobs[0]
    expect(listed?.candidates).toBe(3)
    expect(listed?.takes[0]?.images.map((image) => image.outputs)).toEqual([['out/hero.png'], [], []])
    const shas = listed?.takes[0]?.images.map((image) => image.sha256) ?? []
    expect(new Set(shas).size).toBe(3)
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(shas[0])

    const picked = await cli(['pick', 'hero', '1/3'])
    expect(picked.stdout).toMatch(/hero: now take 1, image 3 \(free/)
    expect(server.submits()).toBe(1)
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(shas[2])
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    expect(lock).toMatch(/candidates: 3/)
    expect(lock).toMatch(/- path: out\/hero.png\n\s+image: 3\n\s+sha256: /)
    expect((await takes()).jobs[0]?.picks).toEqual([3])

    // Nothing to do after a pick: no call, no lock rewrite.
    const again = await cli(['build'])
    expect(again.stdout).toMatch(/1 up to date/)
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toBe(lock)

    // A fresh clone with the outputs committed, and one with only the lock in a frozen CI: the
    // first rebuilds nothing and pays nothing, the second refuses rather than paying for it.
    const clone = await cloneOf(resources, dir, true)
    const fresh = await cli(['build'], 0, clone)
    expect(fresh.stdout).toMatch(/1 up to date/)
    expect(await sha256File(join(clone, 'out/hero.png'))).toBe(shas[2])
    expect((await readLockFile(clone)).jobs.hero?.outputs[0]?.sha256).toBe(shas[2])
    // Candidates grew on the fresh clone: it has only the picked one of take 1, so it generates
    // nothing (the others are the teammate's) and says why.
    const manifest = await readFile(join(clone, 'images.edit.yaml'), 'utf8')
    await writeFile(join(clone, 'images.edit.yaml'), manifest.replace('"candidates": 3', '"candidates": 5'))
    const grown = await cli(['plan', '--verbose'], 0, clone)
    expect(grown.stdout).toMatch(/0 new images/)
    expect(grown.stdout).toMatch(/candidates grew to 5, but only 0 of take 1's 3 images are here: nothing is generated/)
    expect(server.submits()).toBe(1)

    // Where the take is, growing candidates pays for exactly the new ones, and the pick stays.
    await writeFile(join(dir, 'images.edit.yaml'), (await readFile(join(dir, 'images.edit.yaml'), 'utf8')).replace('"candidates": 3', '"candidates": 4'))
    const more = await cli(['build', '--json'])
    expect(more.stdout).toMatch(/"newImages":1/)
    expect(server.submits()).toBe(2)
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(shas[2])
    expect((await readRecords(dir))[0]?.takes[0]?.images).toHaveLength(4)
  })

  it('--force adds takes; pick goes back to an older take for free; gc keeps the picked take and drops the others', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir, cli, takes } = await setup(resources, {})
    await cli(['build'])
    const first = await sha256File(join(dir, 'out/hero.png'))
    await cli(['build', '--force', 'hero'])
    await cli(['build', '--force', 'hero'])
    expect(server.submits()).toBe(3)
    const listed = (await takes()).jobs[0]
    expect(listed?.takes.map((take) => [take.take, take.current])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ])
    const human = await cli(['takes', 'hero'])
    expect(human.stdout).toMatch(/▸ take 3/)
    expect(human.stdout).toMatch(/1\/1 {2}\d+×\d+ png {2}[0-9a-f]{12} {2}\.images-edit\/objects\//)

    await cli(['pick', 'hero', '1'])
    expect(server.submits()).toBe(3)
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(first)
    expect((await readLockFile(dir)).jobs.hero?.take).toBe(1)

    const dry = await cli(['gc', '--dry-run'])
    expect(dry.stdout).toMatch(/take 2/)
    expect(dry.stdout).toMatch(/take 3/)
    await cli(['gc'])
    expect((await takes()).jobs[0]?.takes.map((take) => take.take)).toEqual([1])
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(first)
    const gone = await cli(['pick', 'hero', '3'], 2)
    expect(gone.stderr).toMatch(/hero has no take 3 here; its takes: 1/)
    expect((await readLockFile(dir)).jobs.hero?.take).toBe(1)
    expect((await cli(['build'])).stdout).toMatch(/1 up to date/)
    expect(server.submits()).toBe(3)
  })

  it('pick never overwrites an output edited by hand, and says what to do; the lock is left as it was', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli } = await setup(resources, { candidates: 2 })
    await cli(['build'])
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    await writeFile(join(dir, 'out/hero.png'), 'my own retouch')
    const refused = await cli(['pick', 'hero', '1/2'], 2)
    expect(refused.stderr).toMatch(/out\/hero\.png differs from what images-edit wrote \(edited by hand\?\), so nothing was picked/)
    expect(await readFile(join(dir, 'out/hero.png'), 'utf8')).toBe('my own retouch')
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toBe(lock)
  })

  it('bad picks are usage errors naming what exists, never a stack trace, and change nothing', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli } = await setup(resources, { candidates: 2, n: 2 })
    await cli(['build'])
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    const cases: [string[], RegExp][] = [
      [['pick', 'hero'], /pick needs a job and a take/],
      [['pick', 'villain', '1'], /no job or recipe villain\. Jobs: hero/],
      [['pick', 'hero', 'two'], /cannot read "two" as a pick/],
      [['pick', 'hero', '1/2'], /hero has 2 outputs: name one image per output, e\.g\. 1\/1,2/],
      [['pick', 'hero', '1/2,9'], /take 1 of hero has no image 9 here; it has 1, 2/],
      [['pick', 'hero', '4'], /hero has no take 4 here; its takes: 1/],
    ]
    for (const [args, message] of cases) {
      const result = await cli(args, 2)
      expect(result.stderr, args.join(' ')).toMatch(message)
      expect(result.stderr).not.toMatch(STACK_LINE)
    }
    // Swapping the two outputs is a pick too.
    await cli(['pick', 'hero', '1/2,1'])
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).not.toBe(lock)
    const [record] = await readRecords(dir)
    const images = record?.takes[0]?.images.map((image) => image.sha256)
    expect([await sha256File(join(dir, 'out/hero-1.png')), await sha256File(join(dir, 'out/hero-2.png'))]).toEqual([images?.[1], images?.[0]])
  })

  it('candidates below n is a located manifest error; nothing is built', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { dir, cli, server } = await setup(resources, { candidates: 1, n: 3 })
    const result = await cli(['build'], 2)
    expect(result.stderr).toMatch(/images\.edit\.yaml:\d+:\d+/)
    expect(result.stderr).toMatch(/candidates is 1 but n is 3/)
    expect(result.stderr).toMatch(/Raise candidates to at least 3/)
    expect(server.submits()).toBe(0)
    expect(await exists(join(dir, 'out'))).toBe(false)
  })
})
