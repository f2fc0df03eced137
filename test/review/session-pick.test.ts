/**
 * Issue 13: a dev session (watch, the Vite dev server) shows the picked candidate, not the take's
 * first image — in the project where the pick was made, and on a fresh clone that has only the
 * lock and the committed (picked) outputs. A pick made while a build of the same job runs (the
 * CLI beside `watch`) is not undone when that build writes the lock.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DevSession, openProject } from '@images-edit/core'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, readLockFile, sha256File, tempDir, writeFiles } from '../helpers.js'
import { heldLocal } from '../setup/held-provider.js'

const MANIFEST = `version: 1
out: out
defaults: { provider: local }
recipes:
  hero:
    prompt: first
    refs: [refs/a.png]
    candidates: 3
`

describe('a dev session after a pick', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function sessionIn(dir: string, frozen: boolean): Promise<DevSession> {
    const project = await openProject({ cwd: dir })
    const session = new DevSession(project, { frozen })
    cleanups.push(async () => {
      await session.close()
      await project.close()
    })
    await session.refresh()
    await session.idle()
    return session
  }

  it('serves the picked image, here and on a fresh clone', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'images.edit.yaml': MANIFEST, 'refs/a.png': await makeImage({ color: { r: 250, g: 0, b: 0 } }) })
    const project = await openProject({ cwd: dir })
    await project.build({ frozen: false })
    await project.pick({ job: 'hero', take: 1, images: [3] })
    await project.close()
    const picked = await sha256File(join(dir, 'out/hero.png'))

    const here = (await sessionIn(dir, false)).jobs()[0]
    expect(here?.phase).toBe('ready')
    expect(here?.images.map((image) => image.sha256)).toEqual([picked])

    const { dir: clone, cleanup: cleanClone } = await tempDir()
    cleanups.push(cleanClone)
    for (const entry of ['images.edit.yaml', 'refs', 'out', 'images.edit.lock']) await cp(join(dir, entry), join(clone, entry), { recursive: true })
    const there = (await sessionIn(clone, true)).jobs()[0]
    expect(there?.phase).toBe('ready')
    expect(there?.images.map((image) => image.sha256)).toEqual([picked])
  })

  it('a pick made while a build of the same job runs is kept when that build writes the lock', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'images.edit.yaml': MANIFEST, 'refs/a.png': await makeImage({ color: { r: 0, g: 120, b: 250 } }) })
    const first = await openProject({ cwd: dir })
    await first.build({ frozen: false })
    await first.close()
    // A fourth candidate is asked for; its generation is held until the pick is made.
    await writeFile(join(dir, 'images.edit.yaml'), (await readFile(join(dir, 'images.edit.yaml'), 'utf8')).replace('candidates: 3', 'candidates: 4'))
    const held = heldLocal()
    const watching = await openProject({ cwd: dir, providers: held.providers })
    cleanups.push(() => watching.close())
    const build = watching.build({ frozen: false })
    await held.started
    const picker = await openProject({ cwd: dir })
    cleanups.push(() => picker.close())
    await picker.pick({ job: 'hero', take: 1, images: [2] })
    held.release()
    const result = await build
    expect(result.done).toEqual(['hero'])
    expect((await readLockFile(dir)).jobs.hero?.outputs[0]).toMatchObject({ image: 2 })
    // The next build writes the picked image again (the running one wrote its own), for free.
    const after = await openProject({ cwd: dir })
    cleanups.push(() => after.close())
    await after.build({ frozen: false })
    const [record] = (await after.takes()).map((job) => job.takes[0])
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(record?.images[1]?.sha256)
    expect((await readLockFile(dir)).jobs.hero).toMatchObject({ candidates: 4 })
  })
})
