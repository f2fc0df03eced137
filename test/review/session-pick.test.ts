/**
 * Issue 13: a dev session (watch, the Vite dev server) shows the picked candidate, not the take's
 * first image — in the project where the pick was made, and on a fresh clone that has only the
 * lock and the committed (picked) outputs.
 */
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { DevSession, openProject } from '@images-edit/core'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, sha256File, tempDir, writeFiles } from '../helpers.js'

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
})
