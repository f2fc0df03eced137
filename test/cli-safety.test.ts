import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, type ExpectStatic, it } from 'vitest'
import { exists, imageInfo, listFiles, makeImage, parseJsonLines, readLockFile, runCli, sha256File, tempDir, writeFiles, writeImages } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
// Tests run concurrently (files run one at a time on a 2-core machine): clean up once all are done.
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function project(manifest: string): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-safety-')
  cleanups.push(cleanup)
  await writeImages(dir, {
    'refs/a.png': { color: { r: 200, g: 80, b: 40 } },
    'refs/b.png': { color: { r: 30, g: 90, b: 220 } },
  })
  await writeFiles(dir, { 'images.edit.yaml': manifest })
  return dir
}

const manifest = (extra = '') => `version: 1
out: out
defaults:
  provider: local
${extra}recipes:
  one:
    prompt: first
    refs: [refs/a.png]
  two:
    prompt: second
    refs: [refs/b.png]
  three:
    prompt: third
    refs: [refs/a.png, refs/b.png]
`

/** Nothing was generated or recorded: no outputs, no lock, no stored objects or records. */
async function expectNothingWritten(expect: ExpectStatic, dir: string): Promise<void> {
  expect(await exists(join(dir, 'out'))).toBe(false)
  expect(await exists(join(dir, 'images.edit.lock'))).toBe(false)
  expect(await listFiles(join(dir, '.images-edit/objects'))).toEqual([])
  expect(await listFiles(join(dir, '.images-edit/records'))).toEqual([])
}

describe.concurrent('frozen and budget refusals, end to end', () => {
  it('CI=true refuses a build that needs generation before any work, exit 3; --no-frozen overrides', async ({ expect }) => {
    const dir = await project(manifest())
    const refused = await runCli(['build'], { cwd: dir, env: { CI: 'true' } })
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/refused: frozen mode: 3 jobs would generate 3 new images/)
    for (const id of ['one', 'two', 'three']) expect(refused.stderr).toMatch(new RegExp(`^  ${id}: 1 new image — new recipe`, 'm'))
    expect(refused.stdout).not.toMatch(/✓/)
    await expectNothingWritten(expect, dir)

    // --frozen does the same without CI; --json reports the refusal as one object.
    const flag = await runCli(['build', '--frozen', '--json'], { cwd: dir })
    expect(flag.code).toBe(3)
    const events = parseJsonLines(flag.stdout)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ type: 'refused', code: 'FROZEN' })
    await expectNothingWritten(expect, dir)

    const overridden = await runCli(['build', '--no-frozen'], { cwd: dir, env: { CI: 'true' } })
    expect(overridden.code, overridden.stderr).toBe(0)
    expect(overridden.stdout).toMatch(/3 generated \(3 new images\)/)
    expect(await listFiles(join(dir, 'out'))).toEqual(['one.png', 'three.png', 'two.png'])

    // Frozen again after a change to one recipe: refused, and nothing changes on disk.
    const lock = await readFile(join(dir, 'images.edit.lock'))
    const before = await sha256File(join(dir, 'out/two.png'))
    await writeFiles(dir, { 'images.edit.yaml': manifest().replace('prompt: second', 'prompt: second, bluer') })
    const again = await runCli(['build'], { cwd: dir, env: { CI: '1' } })
    expect(again.code).toBe(3)
    expect(again.stderr).toMatch(/^ {2}two: 1 new image — prompt changed: "second" → "second, bluer"$/m)
    expect(again.stderr).not.toMatch(/^ {2}(one|three):/m)
    expect(Buffer.compare(await readFile(join(dir, 'images.edit.lock')), lock)).toBe(0)
    expect(await sha256File(join(dir, 'out/two.png'))).toBe(before)
  })

  it('--max-images refuses a run over budget before any work, exit 3; the manifest budget does the same', async ({ expect }) => {
    const dir = await project(manifest())
    const refused = await runCli(['build', '--max-images', '1'], { cwd: dir })
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/this run would generate 3 new images .*over the budget of 1/)
    await expectNothingWritten(expect, dir)

    await writeFiles(dir, { 'images.edit.yaml': manifest('budget:\n  maxImagesPerRun: 2\n') })
    const fromManifest = await runCli(['build'], { cwd: dir })
    expect(fromManifest.code).toBe(3)
    expect(fromManifest.stderr).toMatch(/over the budget of 2/)
    await expectNothingWritten(expect, dir)

    // The flag overrides the manifest; exactly at the budget is allowed.
    const atBudget = await runCli(['build', '--max-images', '3'], { cwd: dir })
    expect(atBudget.code, atBudget.stderr).toBe(0)
    expect(atBudget.stdout).toMatch(/3 generated \(3 new images\)/)
    // A run that generates nothing fits any budget, even 0.
    const zero = await runCli(['build', '--max-images', '0'], { cwd: dir })
    expect(zero.code, zero.stderr).toBe(0)
  })
})

describe.concurrent('user files are safe, end to end', () => {
  it('a hand-edited output survives rebuilds, blocks a changed recipe, and only --force overwrites it', async ({ expect }) => {
    const dir = await project(manifest())
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    const target = join(dir, 'out/one.png')
    const edited = await makeImage({ width: 100, height: 80, color: { r: 1, g: 2, b: 3 } })
    await writeFiles(dir, { 'out/one.png': edited })
    const editedSha = await sha256File(target)
    const lock = await readFile(join(dir, 'images.edit.lock'))

    const rebuild = await runCli(['build'], { cwd: dir })
    expect(rebuild.code, rebuild.stderr).toBe(0)
    expect(rebuild.stdout + rebuild.stderr).toMatch(
      /warning one: out\/one\.png differs from what images-edit wrote \(edited by hand\?\); kept — use --force one/,
    )
    expect(rebuild.stdout).toMatch(/0 generated \(0 new images\)/)
    expect(await sha256File(target)).toBe(editedSha)
    expect(Buffer.compare(await readFile(join(dir, 'images.edit.lock')), lock)).toBe(0)

    const status = await runCli(['status'], { cwd: dir })
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/^one\s+modified by hand/m)
    expect(status.stdout).toMatch(/^two\s+up to date/m)
    expect(status.stdout).toMatch(/^2\/3 up to date$/m)

    // A changed recipe would overwrite the edit: it is blocked (and not paid for), the others build.
    await writeFiles(dir, {
      'images.edit.yaml': manifest().replace('prompt: first', 'prompt: first, redder').replace('prompt: second', 'prompt: second, bluer'),
    })
    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.stdout).toMatch(/^! one: blocked$/m)
    expect(plan.stdout).toMatch(/^1 new image would be generated/m)
    const blocked = await runCli(['build'], { cwd: dir })
    expect(blocked.code).toBe(1)
    expect(blocked.stdout).toMatch(/^! one skipped: prompt changed: "first" → "first, redder"; out\/one\.png differs/m)
    expect(blocked.stdout).toMatch(/1 generated \(1 new image\), 1 up to date, 0 restored, 0 failed, 1 blocked/)
    expect(await sha256File(target)).toBe(editedSha)
    const blockedStatus = await runCli(['status'], { cwd: dir })
    expect(blockedStatus.stdout).toMatch(/^one\s+blocked \(edited output\)/m)
    // The blocked job keeps its old lock entry; the one that built moves on.
    const midLock = await readLockFile(dir)
    expect(midLock.jobs.one?.outputs[0]?.sha256).not.toBe(editedSha)
    expect(midLock.jobs.two?.outputs[0]?.sha256).toBe(await sha256File(join(dir, 'out/two.png')))

    const forced = await runCli(['build', '--force', 'one'], { cwd: dir })
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stdout).toMatch(/1 generated \(1 new image\)/)
    const now = await sha256File(target)
    expect(now).not.toBe(editedSha)
    expect(await imageInfo(target)).toEqual({ width: 1024, height: 1024, format: 'png' })
    expect((await readLockFile(dir)).jobs.one?.outputs[0]?.sha256).toBe(now)
    expect((await runCli(['status'], { cwd: dir })).stdout).toMatch(/^3\/3 up to date$/m)
  })

  it('a deleted output is restored from the store with 0 new images', async ({ expect }) => {
    const dir = await project(manifest())
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    const before = await sha256File(join(dir, 'out/three.png'))
    const lock = await readFile(join(dir, 'images.edit.lock'))
    await rm(join(dir, 'out/three.png'))

    const status = await runCli(['status'], { cwd: dir })
    expect(status.stdout).toMatch(/^three\s+missing output/m)
    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.stdout).toMatch(/^↺ three: restore \(free\)$/m)
    expect(plan.stdout).toMatch(/^0 new images would be generated, 0 paid$/m)

    // Restoring is not generating: allowed in frozen mode too.
    const restored = await runCli(['build'], { cwd: dir, env: { CI: 'true' } })
    expect(restored.code, restored.stderr).toBe(0)
    expect(restored.stdout).toMatch(/^↺ three restored from the store \(out\/three\.png\)$/m)
    expect(restored.stdout).toMatch(/0 generated \(0 new images\), 2 up to date, 1 restored, 0 failed/)
    expect(await sha256File(join(dir, 'out/three.png'))).toBe(before)
    expect(Buffer.compare(await readFile(join(dir, 'images.edit.lock')), lock)).toBe(0)
  })

  it('gc only deletes outputs images-edit wrote and the lock no longer lists, never a hand-edited one', async ({ expect }) => {
    const dir = await project(manifest())
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    // Drop two recipes; hand-edit one of their outputs.
    await writeFiles(dir, {
      'images.edit.yaml': `version: 1\nout: out\ndefaults:\n  provider: local\nrecipes:\n  one:\n    prompt: first\n    refs: [refs/a.png]\n`,
      'out/two.png': await makeImage({ color: { r: 9, g: 9, b: 9 } }),
    })
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    expect(Object.keys((await readLockFile(dir)).jobs)).toEqual(['one'])

    const dry = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/^would delete output out\/three\.png$/m)
    expect(dry.stdout).not.toMatch(/out\/two\.png/)
    expect(await listFiles(join(dir, 'out'))).toEqual(['one.png', 'three.png', 'two.png'])

    const gc = await runCli(['gc'], { cwd: dir })
    expect(gc.code).toBe(0)
    expect(await listFiles(join(dir, 'out'))).toEqual(['one.png', 'two.png'])
    expect((await runCli(['status'], { cwd: dir })).stdout).toMatch(/^1\/1 up to date$/m)
  })
})
