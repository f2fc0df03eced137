/**
 * User files are never overwritten or deleted without --force: what this adds to
 * test/cli-safety.test.ts (outputs edited by hand, gc of outputs it wrote) and
 * packages/core/src/project.test.ts (a lock edited by hand, `forceLock`):
 *
 * - a file in `out` images-edit never wrote, with the name a new recipe's output would take —
 *   before the first build and in a project that already has a store and a lock: the job is
 *   blocked before anything is paid, exit 1, the bytes stay; `--force <recipe>` overwrites it;
 * - files in `out` images-edit did not write are never deleted by `gc`, nor listed by
 *   `gc --dry-run`, while the outputs it wrote and no longer needs are;
 * - a lock edited by hand stops `build` (nothing generated, lock bytes kept) until `--force-lock`.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { imageInfo, listFiles, makeImage, readLockFile, runCli, sha256File, tempDir, writeFiles, writeImages } from '../helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

const manifest = (recipes: readonly string[]) =>
  `version: 1\nout: out\ndefaults:\n  provider: local\nrecipes:\n${recipes.map((id, index) => `  ${id}:\n    prompt: user files ${id}\n    refs: [refs/${index % 2 ? 'b' : 'a'}.png]\n`).join('')}`

async function project(recipes: readonly string[], files: Record<string, string | Uint8Array> = {}): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-userfiles-')
  cleanups.push(cleanup)
  await writeImages(dir, { 'refs/a.png': { color: { r: 200, g: 80, b: 40 } }, 'refs/b.png': { color: { r: 30, g: 90, b: 220 } } })
  await writeFiles(dir, { 'images.edit.yaml': manifest(recipes), ...files })
  return dir
}

describe.concurrent('files images-edit did not write are never overwritten or deleted without --force', () => {
  it('a file already in `out` under a new recipe’s output name, before the first build: blocked (exit 1, bytes intact, nothing paid); --force overwrites it', async ({
    expect,
  }) => {
    const mine = await makeImage({ width: 100, height: 80, color: { r: 1, g: 2, b: 3 } })
    const dir = await project(['one', 'two'], { 'out/one.png': mine })
    const before = await sha256File(join(dir, 'out/one.png'))

    const plan = await runCli(['plan'], { cwd: dir })
    expect(plan.stdout).toMatch(/^! one: blocked/m)
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code, build.stdout + build.stderr).toBe(1)
    expect(build.stdout).toMatch(/^! one skipped: .*out\/one\.png/m)
    expect(build.stdout).toMatch(/1 generated \(1 new image\).*1 blocked/)
    expect(await sha256File(join(dir, 'out/one.png'))).toBe(before)
    expect(Object.keys((await readLockFile(dir)).jobs)).toEqual(['two'])
    // A second build still refuses: nothing about the file changed.
    expect((await runCli(['build'], { cwd: dir })).code).toBe(1)
    expect(await sha256File(join(dir, 'out/one.png'))).toBe(before)
    expect((await runCli(['status'], { cwd: dir })).stdout).toMatch(/^one\s+blocked/m)

    const forced = await runCli(['build', '--force', 'one'], { cwd: dir })
    expect(forced.code, forced.stdout + forced.stderr).toBe(0)
    const now = await sha256File(join(dir, 'out/one.png'))
    expect(now).not.toBe(before)
    expect(await imageInfo(join(dir, 'out/one.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })
    expect((await readLockFile(dir)).jobs.one?.outputs[0]?.sha256).toBe(now)
  })

  it('a file dropped into `out` of a built project under the name a recipe added later will use: blocked, intact; gc keeps it; --force overwrites it', async ({
    expect,
  }) => {
    const dir = await project(['one', 'two'])
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    const mine = await makeImage({ width: 50, height: 50, color: { r: 9, g: 9, b: 9 } })
    await writeFiles(dir, { 'out/three.png': mine, 'out/notes.txt': 'my notes\n', 'out/sub/kept.png': mine })
    const lock = await readFile(join(dir, 'images.edit.lock'))

    // gc before the recipe exists: none of the user's files is listed or deleted.
    const dry = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(dry.code).toBe(0)
    expect(dry.stdout).not.toMatch(/three\.png|notes\.txt|kept\.png/)
    expect((await runCli(['gc'], { cwd: dir })).code).toBe(0)
    expect(await listFiles(join(dir, 'out'))).toEqual(['notes.txt', 'one.png', 'sub/kept.png', 'three.png', 'two.png'])

    await writeFile(join(dir, 'images.edit.yaml'), manifest(['one', 'two', 'three']))
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code, build.stdout + build.stderr).toBe(1)
    expect(build.stdout).toMatch(/^! three skipped: .*out\/three\.png/m)
    expect(build.stdout).toMatch(/0 generated \(0 new images\).*1 blocked/)
    expect(Buffer.compare(await readFile(join(dir, 'out/three.png')), mine)).toBe(0)
    expect(Buffer.compare(await readFile(join(dir, 'images.edit.lock')), lock)).toBe(0)

    const forced = await runCli(['build', '--force', 'three'], { cwd: dir })
    expect(forced.code, forced.stdout + forced.stderr).toBe(0)
    expect(await imageInfo(join(dir, 'out/three.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })

    // Now images-edit wrote out/three.png: dropping the recipe lets gc delete it, and only it.
    await writeFile(join(dir, 'images.edit.yaml'), manifest(['one', 'two']))
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    const listed = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(listed.stdout).toMatch(/^would delete output out\/three\.png$/m)
    expect(listed.stdout).not.toMatch(/notes\.txt|kept\.png/)
    expect((await runCli(['gc'], { cwd: dir })).code).toBe(0)
    expect(await listFiles(join(dir, 'out'))).toEqual(['notes.txt', 'one.png', 'sub/kept.png', 'two.png'])
  })

  it('a lock edited by hand: build refuses before generating anything and keeps the lock bytes; --force-lock rewrites it', async ({ expect }) => {
    const dir = await project(['one'])
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    const path = join(dir, 'images.edit.lock')
    const edited = (await readFile(path, 'utf8')).replace(/^(lockfileVersion: 1)$/m, '$1 # reviewed by me')
    expect(edited).toContain('# reviewed by me')
    await writeFile(path, edited)
    // A new recipe would need generating: refused before that.
    await writeFile(join(dir, 'images.edit.yaml'), manifest(['one', 'two']))

    const refused = await runCli(['build'], { cwd: dir })
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/edited by hand/)
    expect(refused.stderr).toMatch(/--force-lock/)
    expect(await readFile(path, 'utf8')).toBe(edited)
    expect(await listFiles(join(dir, 'out'))).toEqual(['one.png'])
    await rm(join(dir, '.images-edit'), { recursive: true, force: true })
    expect((await runCli(['build'], { cwd: dir })).code).not.toBe(0)
    expect(await readFile(path, 'utf8')).toBe(edited)

    const forced = await runCli(['build', '--force-lock'], { cwd: dir })
    expect(forced.code, forced.stdout + forced.stderr).toBe(0)
    expect(await readFile(path, 'utf8')).not.toContain('reviewed by me')
    expect(Object.keys((await readLockFile(dir)).jobs).sort()).toEqual(['one', 'two'])
  })
})
