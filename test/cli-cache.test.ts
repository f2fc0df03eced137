import { cp, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { exists, idsOf, imageInfo, listFiles, parseJsonLines, readLockFile, runCli, sha256File, tempDir, writeFiles, writeImages } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
// Tests run concurrently (files run one at a time on a 2-core machine): clean up once all are done.
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function newDir(): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-cache-')
  cleanups.push(cleanup)
  return dir
}

async function project(manifest: string): Promise<string> {
  const dir = await newDir()
  await writeImages(dir, {
    'refs/a.png': { color: { r: 200, g: 80, b: 40 } },
    'refs/b.png': { color: { r: 30, g: 90, b: 220 } },
  })
  await writeFiles(dir, { 'images.edit.yaml': manifest })
  return dir
}

async function build(dir: string, args: string[] = [], env?: Record<string, string | undefined>) {
  const result = await runCli(['build', '--json', ...args], { cwd: dir, ...(env ? { env } : {}) })
  const events = parseJsonLines(result.stdout)
  const done = events.at(-1)
  return { ...result, events, generated: idsOf(events, 'job:done'), restored: idsOf(events, 'job:restored'), summary: done }
}

async function hashes(dir: string, paths: readonly string[]): Promise<Record<string, string>> {
  const result: Record<string, string> = {}
  for (const path of paths) result[path] = await sha256File(join(dir, path))
  return result
}

/** Three recipes: two use refs/b.png, one does not. */
const MANIFEST = `version: 1
out: out
defaults:
  provider: local
  ratio: "1:1"
recipes:
  hero:
    prompt: a poster
    refs: [refs/a.png]
  blend:
    prompt: blend both
    refs: [refs/a.png, refs/b.png]
  blue:
    prompt: the blue one
    refs: [refs/b.png]
`
const OUTPUTS = ['out/blend.png', 'out/blue.png', 'out/hero.png']

describe.concurrent('cache and lock, end to end', () => {
  it('a second build on an unchanged project does no work and leaves the lock and outputs untouched', async ({ expect }) => {
    const dir = await project(MANIFEST)
    const first = await build(dir)
    expect(first.code, first.stderr).toBe(0)
    expect(first.generated).toEqual(['blend', 'blue', 'hero'])
    const lockBefore = await readFile(join(dir, 'images.edit.lock'))
    const outputsBefore = await hashes(dir, OUTPUTS)
    const mtimesBefore = await Promise.all(OUTPUTS.map(async (path) => (await stat(join(dir, path))).mtimeMs))
    const lockMtime = (await stat(join(dir, 'images.edit.lock'))).mtimeMs

    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/^3 jobs: 3 up to date, 0 to restore, 0 to generate, 0 blocked$/m)
    expect(plan.stdout).toMatch(/^0 new images would be generated, 0 paid$/m)

    const second = await runCli(['build'], { cwd: dir })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toMatch(/0 generated \(0 new images\), 3 up to date, 0 restored, 0 failed/)
    expect(second.stdout).not.toMatch(/lock updated/)
    const third = await build(dir)
    expect(third.code).toBe(0)
    expect(third.generated).toEqual([])
    expect(third.restored).toEqual([])
    expect(third.summary).toMatchObject({ type: 'run:done', done: 0, fresh: 3, newImages: 0 })

    expect(Buffer.compare(await readFile(join(dir, 'images.edit.lock')), lockBefore)).toBe(0)
    expect((await stat(join(dir, 'images.edit.lock'))).mtimeMs).toBe(lockMtime)
    expect(await hashes(dir, OUTPUTS)).toEqual(outputsBefore)
    expect(await Promise.all(OUTPUTS.map(async (path) => (await stat(join(dir, path))).mtimeMs))).toEqual(mtimesBefore)
  })

  it('moving a ref costs nothing; changing its bytes reruns exactly the recipes using it; a parameter change reruns and plan says why', async ({ expect }) => {
    const dir = await project(MANIFEST)
    expect((await build(dir)).code).toBe(0)
    const before = await hashes(dir, OUTPUTS)

    // Rename and move refs/b.png, update the manifest's paths: same bytes, same keys.
    await rename(join(dir, 'refs/b.png'), join(dir, 'moved-b.png'))
    await writeFiles(dir, { 'images.edit.yaml': MANIFEST.replaceAll('refs/b.png', 'moved-b.png') })
    const movedPlan = await runCli(['plan'], { cwd: dir })
    expect(movedPlan.stdout).toMatch(/^0 new images would be generated, 0 paid$/m)
    const moved = await build(dir)
    expect(moved.code, moved.stderr).toBe(0)
    expect(moved.generated).toEqual([])
    expect(moved.summary).toMatchObject({ type: 'run:done', done: 0, newImages: 0 })
    expect(await hashes(dir, OUTPUTS)).toEqual(before)
    // The lock follows the new path.
    expect((await readLockFile(dir)).jobs.blue?.refs.map((ref) => ref.path)).toEqual(['moved-b.png'])
    expect(await runCli(['build'], { cwd: dir }).then((result) => result.stdout)).toMatch(/0 generated \(0 new images\)/)

    // Same size, different colour: different bytes. Only blend and blue use it.
    await writeImages(dir, { 'moved-b.png': { color: { r: 90, g: 160, b: 20 } } })
    const changedPlan = await runCli(['plan'], { cwd: dir })
    expect(changedPlan.code).toBe(0)
    expect(changedPlan.stdout).toMatch(/^\+ blend: generate 1 image on local \(free\)\n {4}why: ref 2 moved-b\.png changed \([0-9a-f]{8} → [0-9a-f]{8}\)$/m)
    expect(changedPlan.stdout).toMatch(/^\+ blue: generate 1 image on local \(free\)\n {4}why: ref 1 moved-b\.png changed /m)
    expect(changedPlan.stdout).not.toMatch(/hero/)
    expect(changedPlan.stdout).toMatch(/^2 new images would be generated, 0 paid$/m)
    const changed = await build(dir)
    expect(changed.code, changed.stderr).toBe(0)
    expect(changed.generated).toEqual(['blend', 'blue'])
    const after = await hashes(dir, OUTPUTS)
    expect(after['out/hero.png']).toBe(before['out/hero.png'])
    expect(after['out/blend.png']).not.toBe(before['out/blend.png'])
    expect(after['out/blue.png']).not.toBe(before['out/blue.png'])

    // A parameter: ratio 1:1 → 16:9 on hero only.
    await writeFiles(dir, {
      'images.edit.yaml': MANIFEST.replaceAll('refs/b.png', 'moved-b.png').replace('prompt: a poster', 'prompt: a poster\n    ratio: "16:9"'),
    })
    const ratioPlan = await runCli(['plan'], { cwd: dir })
    expect(ratioPlan.stdout).toMatch(/^\+ hero: generate 1 image on local \(free\)\n {4}why: ratio changed from "1:1" to "16:9"$/m)
    expect(ratioPlan.stdout).toMatch(/^1 new image would be generated, 0 paid$/m)
    const status = await runCli(['status'], { cwd: dir })
    expect(status.stdout).toMatch(/^hero\s+stale.*\n\s+ratio changed from "1:1" to "16:9"$/m)
    const ratio = await build(dir)
    expect(ratio.code, ratio.stderr).toBe(0)
    expect(ratio.generated).toEqual(['hero'])
    expect(await imageInfo(join(dir, 'out/hero.png'))).toEqual({ width: 1536, height: 864, format: 'png' })
    expect((await readLockFile(dir)).jobs.hero?.params.ratio).toBe('16:9')
  })

  it('plan names a changed ref by its path', async ({ expect }) => {
    const dir = await project(MANIFEST)
    expect((await build(dir)).code).toBe(0)
    await writeImages(dir, { 'refs/a.png': { color: { r: 0, g: 0, b: 0 } } })
    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.stdout).toMatch(/why: ref 1 refs\/a\.png changed/)
    expect(plan.stdout).toMatch(/^\+ hero:/m)
    expect(plan.stdout).toMatch(/^\+ blend:/m)
    expect(plan.stdout).not.toMatch(/^\+ blue:/m)
  })

  it('a fresh copy with manifest, refs, lock and outputs but no .images-edit/ is up to date, also frozen in CI', async ({ expect }) => {
    const source = await project(MANIFEST)
    expect((await build(source)).code).toBe(0)
    const lock = await readFile(join(source, 'images.edit.lock'))

    const clone = await newDir()
    for (const path of ['images.edit.yaml', 'images.edit.lock', 'refs', 'out']) await cp(join(source, path), join(clone, path), { recursive: true })
    expect(await exists(join(clone, '.images-edit'))).toBe(false)

    const status = await runCli(['status'], { cwd: clone })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^3\/3 up to date$/m)
    expect(status.stdout).not.toMatch(/stale|missing|modified/)

    const frozen = await runCli(['build'], { cwd: clone, env: { CI: 'true' } })
    expect(frozen.code, frozen.stderr + frozen.stdout).toBe(0)
    expect(frozen.stdout).toMatch(/0 generated \(0 new images\), 3 up to date/)

    const again = await build(clone)
    expect(again.code, again.stderr).toBe(0)
    expect(again.generated).toEqual([])
    expect(again.summary).toMatchObject({ type: 'run:done', done: 0, fresh: 3, newImages: 0 })
    expect(Buffer.compare(await readFile(join(clone, 'images.edit.lock')), lock)).toBe(0)
    expect(await hashes(clone, OUTPUTS)).toEqual(await hashes(source, OUTPUTS))
  })

  it('a fresh copy missing an output has nothing to restore it from: frozen CI refuses with exit 3 and names the job', async ({ expect }) => {
    const source = await project(MANIFEST)
    expect((await build(source)).code).toBe(0)
    const clone = await newDir()
    for (const path of ['images.edit.yaml', 'images.edit.lock', 'refs', 'out']) await cp(join(source, path), join(clone, path), { recursive: true })
    // An output lost on a fresh clone (no store) can only be regenerated: frozen mode must refuse, exit 3.
    await rename(join(clone, 'out/hero.png'), join(clone, 'elsewhere.png'))
    const frozen = await runCli(['build'], { cwd: clone, env: { CI: 'true' } })
    expect(frozen.code).toBe(3)
    expect(frozen.stderr).toMatch(/hero: 1 new image/)
    expect(await exists(join(clone, 'out/hero.png'))).toBe(false)
  })

  it('growing n from 2 to 3 generates one new image and keeps the first two; shrinking to 1 generates nothing', async ({ expect }) => {
    const manifest = (n: number) => `version: 1
out: out
defaults:
  provider: local
recipes:
  multi:
    prompt: several takes
    refs: [refs/a.png]
    name: "multi-{index}.{ext}"
    n: ${n}
`
    const dir = await project(manifest(2))
    const first = await build(dir)
    expect(first.code, first.stderr).toBe(0)
    expect(first.summary).toMatchObject({ newImages: 2 })
    const two = await hashes(dir, ['out/multi-1.png', 'out/multi-2.png'])
    expect(two['out/multi-1.png']).not.toBe(two['out/multi-2.png'])

    await writeFiles(dir, { 'images.edit.yaml': manifest(3) })
    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.stdout).toMatch(/^\+ multi: generate 1 image on local \(free\)\n {4}why: n grew from 2 to 3: 1 new image$/m)
    expect(plan.stdout).toMatch(/^1 new image would be generated, 0 paid$/m)
    const grown = await build(dir)
    expect(grown.code, grown.stderr).toBe(0)
    expect(grown.generated).toEqual(['multi'])
    expect(grown.summary).toMatchObject({ type: 'run:done', done: 1, newImages: 1 })
    expect(await hashes(dir, ['out/multi-1.png', 'out/multi-2.png'])).toEqual(two)
    expect(await imageInfo(join(dir, 'out/multi-3.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })
    const three = await sha256File(join(dir, 'out/multi-3.png'))
    expect(Object.values(two)).not.toContain(three)
    expect((await readLockFile(dir)).jobs.multi?.outputs.map((output) => output.sha256)).toEqual([two['out/multi-1.png'], two['out/multi-2.png'], three])

    await writeFiles(dir, { 'images.edit.yaml': manifest(1) })
    const shrinkPlan = await runCli(['plan'], { cwd: dir })
    expect(shrinkPlan.stdout).toMatch(/^0 new images would be generated, 0 paid$/m)
    const shrunk = await build(dir)
    expect(shrunk.code, shrunk.stderr).toBe(0)
    expect(shrunk.generated).toEqual([])
    expect(shrunk.summary).toMatchObject({ type: 'run:done', done: 0, newImages: 0 })
    expect(await sha256File(join(dir, 'out/multi-1.png'))).toBe(two['out/multi-1.png'])
    expect((await readLockFile(dir)).jobs.multi?.outputs.map((output) => output.path)).toEqual(['out/multi-1.png'])

    // Growing back to 3 is free: the take still holds all three images.
    await writeFiles(dir, { 'images.edit.yaml': manifest(3) })
    const regrown = await build(dir)
    expect(regrown.code, regrown.stderr).toBe(0)
    expect(regrown.summary).toMatchObject({ type: 'run:done', done: 0, newImages: 0 })
    expect(await sha256File(join(dir, 'out/multi-3.png'))).toBe(three)
  })

  it('--force makes a new take; the old take stays in the store until gc; gc --dry-run lists and deletes nothing', async ({ expect }) => {
    const manifest = (n: number) => `version: 1
out: out
defaults:
  provider: local
recipes:
  keep:
    prompt: never forced
    refs: [refs/b.png]
  pick:
    prompt: take me again
    refs: [refs/a.png]
    name: "pick-{index}.{ext}"
    n: ${n}
`
    // Take 1 holds two images; the manifest then asks for one, so take 1 has an image take 2 will not.
    const dir = await project(manifest(2))
    expect((await build(dir)).code).toBe(0)
    await writeFiles(dir, { 'images.edit.yaml': manifest(1) })
    expect((await build(dir)).code).toBe(0)
    const lockBefore = await readLockFile(dir)
    expect(lockBefore.jobs.pick?.take).toBe(1)
    const key = lockBefore.jobs.pick?.key ?? ''
    const record = async () =>
      JSON.parse(await readFile(join(dir, '.images-edit/records', `${key}.json`), 'utf8')) as {
        selectedTake: number
        takes: { take: number; images: { sha256: string }[] }[]
      }
    const take1 = (await record()).takes.find((take) => take.take === 1)?.images.map((image) => image.sha256) ?? []
    expect(take1).toHaveLength(2)

    const forced = await build(dir, ['--force', 'pick'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.generated).toEqual(['pick'])
    const lock = await readLockFile(dir)
    expect(lock.jobs.pick?.take).toBe(2)
    expect(lock.jobs.pick?.key).toBe(key)
    expect(lock.jobs.keep?.take).toBe(1)
    expect(await sha256File(join(dir, 'out/pick-1.png'))).toBe(lock.jobs.pick?.outputs[0]?.sha256)
    const afterForce = await record()
    expect(afterForce.selectedTake).toBe(2)
    expect(afterForce.takes.map((take) => take.take)).toEqual([1, 2])
    const take2 = afterForce.takes.find((take) => take.take === 2)?.images.map((image) => image.sha256) ?? []
    const onlyTake1 = take1.filter((hash) => !take2.includes(hash))
    expect(onlyTake1.length).toBeGreaterThan(0)
    const objects = await listFiles(join(dir, '.images-edit/objects'))
    for (const hash of take1) expect(objects).toContain(`${hash.slice(0, 2)}/${hash.slice(2)}`)

    // A rebuild keeps the pinned take 2.
    const rebuilt = await build(dir)
    expect(rebuilt.generated).toEqual([])
    expect((await readLockFile(dir)).jobs.pick?.take).toBe(2)

    const everything = await listFiles(dir)
    const dry = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^would delete take 1 of pick \(\d+ images?, .*; take 2 is in use\)$/m)
    expect(dry.stdout).toMatch(/^dry run: would delete .*; run `images-edit gc` to delete them$/m)
    expect(await listFiles(dir)).toEqual(everything)
    expect((await record()).takes.map((take) => take.take)).toEqual([1, 2])

    const gc = await runCli(['gc'], { cwd: dir })
    expect(gc.code, gc.stderr).toBe(0)
    expect(gc.stdout).toMatch(/^deleted take 1 of pick /m)
    expect((await record()).takes.map((take) => take.take)).toEqual([2])
    const left = await listFiles(join(dir, '.images-edit/objects'))
    for (const hash of onlyTake1) expect(left).not.toContain(`${hash.slice(0, 2)}/${hash.slice(2)}`)
    for (const hash of take2) expect(left).toContain(`${hash.slice(0, 2)}/${hash.slice(2)}`)
    const keepSha = lock.jobs.keep?.outputs[0]?.sha256 ?? ''
    expect(left).toContain(`${keepSha.slice(0, 2)}/${keepSha.slice(2)}`)

    // Still up to date, nothing to pay, and a second gc has nothing left to do.
    const status = await runCli(['status'], { cwd: dir })
    expect(status.stdout).toMatch(/^2\/2 up to date$/m)
    const again = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(again.stdout).toBe('dry run: nothing to delete\n')
  })

  it('the same recipe built in two separate folders gives byte-identical outputs and locks', async ({ expect }) => {
    const manifest = `version: 1
out: out
defaults:
  provider: local
recipes:
  hero:
    prompt: deterministic poster
    refs: [refs/a.png, refs/b.png]
    ratio: "3:2"
    n: 2
  photo:
    prompt: deterministic photo
    refs: [refs/b.png]
    format: jpeg
  card:
    prompt: deterministic card
    refs: [refs/a.png]
    format: webp
`
    const one = await project(manifest)
    const two = await project(manifest)
    const [a, b] = await Promise.all([build(one), build(two)])
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    const files = await listFiles(join(one, 'out'))
    expect(files).toEqual(['card.webp', 'hero-1.png', 'hero-2.png', 'photo.jpg'])
    expect(await listFiles(join(two, 'out'))).toEqual(files)
    for (const file of files) {
      expect(Buffer.compare(await readFile(join(one, 'out', file)), await readFile(join(two, 'out', file))), file).toBe(0)
    }
    expect(Buffer.compare(await readFile(join(one, 'images.edit.lock')), await readFile(join(two, 'images.edit.lock')))).toBe(0)
    // The lock names no absolute path of either machine.
    expect(await readFile(join(one, 'images.edit.lock'), 'utf8')).not.toContain(one)
  })
})
