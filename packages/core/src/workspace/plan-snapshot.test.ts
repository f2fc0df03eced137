// The "nothing changed" fast path: a remembered no-op is taken only while nothing its plan came from
// has moved. Each case makes a project, builds it, lets its files age past the racy window, builds
// the no-op that is remembered, checks the next build takes it, then changes one thing and checks
// the build after it plans anew and does what that change asks.
import { readdir, readFile, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { ImagesEditError } from '../errors.js'
import { openProject, type Project } from '../project.js'
import { createLocalProvider } from '../providers/local-provider.js'
import type { EditRequest, ImageEditProvider } from '../providers/provider.js'
import { createProviderRegistry } from '../providers/registry.js'
import type { RunEvent } from '../run/events.js'

const MANIFEST = `version: 1
defaults: { provider: local }
recipes:
  hero:
    prompt: a hero
    refs: [refs/a.png, refs/b.png]
  shots:
    each: photos/**/*.png
    prompt: a shot
    refs: ["{file}"]
`

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** A project built, then remembered as a no-op; `calls` counts what the provider was asked. */
async function remembered() {
  const { dir, cleanup } = await tempDir('images-edit-snapshot-')
  cleanups.push(cleanup)
  await writeFiles(dir, {
    'images.edit.yaml': MANIFEST,
    'refs/a.png': await makeImage({ color: { r: 10, g: 20, b: 30 } }),
    'refs/b.png': await makeImage({ color: { r: 40, g: 50, b: 60 } }),
    'refs/c.png': await makeImage({ color: { r: 70, g: 80, b: 90 } }),
    'photos/one.png': await makeImage({ color: { r: 1, g: 2, b: 3 } }),
    'photos/sub/two.png': await makeImage({ color: { r: 4, g: 5, b: 6 } }),
    'photos/empty/notes.txt': 'not an image',
  })
  const calls: EditRequest[] = []
  const local = createLocalProvider()
  const provider: ImageEditProvider = {
    ...local,
    generate: (request, prepared, context) => {
      calls.push(request)
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  const providers = createProviderRegistry({ overrides: { local: provider } })
  /** One build as one CLI run: a project opened anew. */
  const build = async (options: Parameters<Project['build']>[0] = {}, providerOverride?: 'local') => {
    const project = await openProject({ manifest: join(dir, 'images.edit.yaml'), providers, ...(providerOverride ? { providerOverride } : {}) })
    const events: RunEvent[] = []
    try {
      // Not frozen even where CI is set: these builds generate (with the free local provider).
      const result = await project.build({ frozen: false, ...options, onEvent: (event) => events.push(event) })
      return { result, events, recalled: project.workspace.snapshot.isRecalled(result.plan) }
    } finally {
      await project.close()
    }
  }
  const first = await build()
  expect(first.result.done).toHaveLength(3)
  // Past the racy window: what the no-op sees can no longer change unseen within one timestamp tick.
  await sleep(2_100)
  const noop = await build()
  expect(noop.recalled).toBe(false)
  expect(noop.result.fresh).toHaveLength(3)
  const again = await build()
  expect(again.recalled).toBe(true)
  // The remembered no-op reports exactly what the planned one did.
  const shape = (events: RunEvent[]) => events.map((event) => ({ ...event, ...('elapsedMs' in event ? { elapsedMs: 0 } : {}) }))
  expect(shape(again.events)).toEqual(shape(noop.events))
  calls.length = 0
  return { dir, build, calls }
}

describe.concurrent('the remembered no-op (PlanSnapshot)', () => {
  it('is not taken once a ref changes, even with its size and mtime kept', async () => {
    const { dir, build, calls } = await remembered()
    const path = join(dir, 'refs/a.png')
    const before = await stat(path)
    const bytes = await readFile(path)
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0xff, bytes.length - 5)
    await writeFile(path, bytes)
    await utimes(path, before.atime, before.mtime)
    const after = await build()
    expect(after.recalled).toBe(false)
    expect(after.result.done).toEqual(['hero'])
    expect(calls).toHaveLength(1)
  })

  it('is not taken once a file appears in a folder an `each` glob reads, a new subfolder too', async () => {
    const { dir, build } = await remembered()
    await writeFiles(dir, { 'photos/empty/three.png': await makeImage({ color: { r: 7, g: 8, b: 9 } }) })
    const added = await build()
    expect(added.recalled).toBe(false)
    expect(added.result.done).toEqual(['shots/empty/three.png'])
    await sleep(2_100)
    await build()
    expect((await build()).recalled).toBe(true)
    await writeFiles(dir, { 'photos/new/deeper/four.png': await makeImage({ color: { r: 9, g: 8, b: 7 } }) })
    const deeper = await build()
    expect(deeper.recalled).toBe(false)
    expect(deeper.result.done).toEqual(['shots/new/deeper/four.png'])
  })

  it('is not taken once an output is removed or edited, and the edit is kept with a warning', async () => {
    const { dir, build, calls } = await remembered()
    const output = (await build()).result.loaded.jobs.find((job) => job.id === 'hero')?.outputs[0] as string
    await unlink(join(dir, output))
    const removed = await build()
    expect(removed.recalled).toBe(false)
    expect(removed.result.restored).toEqual(['hero'])
    await writeFile(join(dir, output), 'retouched by hand')
    const edited = await build()
    expect(edited.recalled).toBe(false)
    expect(edited.events).toContainEqual(expect.objectContaining({ type: 'warning', id: 'hero' }))
    expect(await readFile(join(dir, output), 'utf8')).toBe('retouched by hand')
    // A build that warns is not remembered: the warning is given again every time.
    await sleep(2_100)
    await build()
    const still = await build()
    expect(still.recalled).toBe(false)
    expect(still.events).toContainEqual(expect.objectContaining({ type: 'warning', id: 'hero' }))
    expect(calls).toHaveLength(0)
  })

  it('is not taken once the manifest or the lock changes', async () => {
    const { dir, build, calls } = await remembered()
    await writeFile(join(dir, 'images.edit.yaml'), MANIFEST.replace('a hero', 'a braver hero'))
    const changed = await build()
    expect(changed.recalled).toBe(false)
    expect(changed.result.done).toEqual(['hero'])
    expect(calls).toHaveLength(1)

    await sleep(2_100)
    await build()
    expect((await build()).recalled).toBe(true)
    const lockPath = join(dir, 'images.edit.lock')
    const text = await readFile(lockPath, 'utf8')
    const pin = /sha256: ([0-9a-f]{64})\n(?=\s+width)/.exec(text)?.[1] as string
    expect(pin).toMatch(/^[0-9a-f]{64}$/)
    await writeFile(lockPath, text.replace(pin, 'a'.repeat(64)))
    await expect(build()).rejects.toSatisfy((error: unknown) => ImagesEditError.is(error) && error.code === 'LOCK_EDITED')
  })

  it('is not taken once a ref becomes a link, or a linked ref’s target changes', async () => {
    const { dir, build } = await remembered()
    await rm(join(dir, 'refs/b.png'))
    await symlink(join(dir, 'refs/c.png'), join(dir, 'refs/b.png'))
    const linked = await build()
    expect(linked.recalled).toBe(false)
    expect(linked.result.done).toEqual(['hero'])
    await sleep(2_100)
    await build()
    expect((await build()).recalled).toBe(true)
    await writeFile(join(dir, 'refs/c.png'), await makeImage({ color: { r: 200, g: 0, b: 0 } }))
    const target = await build()
    expect(target.recalled).toBe(false)
    expect(target.result.done).toEqual(['hero'])
  })

  it('is not taken for a narrowed, forced or overridden build, nor once the store changes', async () => {
    const { dir, build, calls } = await remembered()
    expect((await build({ only: ['hero'] })).recalled).toBe(false)
    const forced = await build({ force: ['hero'] })
    expect(forced.recalled).toBe(false)
    expect(forced.result.done).toEqual(['hero'])
    expect(calls).toHaveLength(1)
    await sleep(2_100)
    await build()
    expect((await build()).recalled).toBe(true)
    expect((await build({}, 'local')).recalled).toBe(false)
    // One snapshot is kept: the override's no-op replaced it, so the plain build plans (and remembers) again.
    expect((await build()).recalled).toBe(false)
    expect((await build()).recalled).toBe(true)
    // A record gone from the store (`gc`, a hand clean-up) changes the store's folders.
    const records = join(dir, '.images-edit/records')
    await rm(join(records, (await readdir(records)).find((name) => name.endsWith('.json')) as string))
    const gone = await build()
    expect(gone.recalled).toBe(false)
    expect(gone.result.fresh).toHaveLength(3)
  })
})
