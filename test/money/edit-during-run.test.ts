/**
 * "Never overwrites a file a user edited" holds while the provider works too: an output edited
 * between the plan and the write (a designer retouching it while a new take runs, from the CLI or
 * the dev panel) is kept, with a warning; the paid result is in the store, and once the file is
 * moved away a build writes it at no cost.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openProject, type RunEvent } from '@images-edit/core'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, sha256File, tempDir, writeFiles } from '../helpers.js'
import { heldLocal } from '../setup/held-provider.js'

const MANIFEST = `version: 1
out: out
defaults: { provider: local }
recipes:
  hero:
    prompt: a hero
    refs: [refs/a.png]
`

describe('an output edited while its job runs', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it('is kept, with a warning; the new take is stored, and written for free once the file is moved away', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'images.edit.yaml': MANIFEST, 'refs/a.png': await makeImage({ color: { r: 10, g: 200, b: 90 } }) })
    const first = await openProject({ cwd: dir })
    await first.build({ frozen: false })
    await first.close()

    const held = heldLocal()
    const project = await openProject({ cwd: dir, providers: held.providers })
    cleanups.push(() => project.close())
    const events: RunEvent[] = []
    const build = project.build({ frozen: false, force: ['hero'], onEvent: (event) => events.push(event) })
    await held.started
    await writeFile(join(dir, 'out/hero.png'), 'my retouch')
    held.release()
    const result = await build
    expect(result.done).toEqual(['hero'])
    expect(await readFile(join(dir, 'out/hero.png'), 'utf8')).toBe('my retouch')
    const warnings = events.flatMap((event) => (event.type === 'warning' ? [event.message] : []))
    expect(warnings).toContainEqual(expect.stringMatching(/out\/hero\.png changed while images-edit was running \(edited by hand\?\), so it was kept/))
    const [job] = await project.takes()
    expect(job?.takes.map((take) => take.take)).toEqual([1, 2])

    // The retouch moved away: the next build restores take 2 from the store, generating nothing.
    await rename(join(dir, 'out/hero.png'), join(dir, 'retouch.png'))
    const next = await project.build({ frozen: true })
    expect(next.restored).toEqual(['hero'])
    expect(await sha256File(join(dir, 'out/hero.png'))).toBe(job?.takes[1]?.images[0]?.sha256)
  })
})
