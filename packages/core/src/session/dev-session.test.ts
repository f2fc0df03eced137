import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { openProject } from '../project.js'
import { createLocalProvider } from '../providers/local-provider.js'
import type { EditRequest, ImageEditProvider } from '../providers/provider.js'
import { createProviderRegistry } from '../providers/registry.js'
import { DevSession, type SessionEvent } from './dev-session.js'

const manifest = `version: 1
defaults: { provider: local }
recipes:
  a:
    prompt: first
    refs: [refs/a.png]
  b:
    prompt: second
    refs: [refs/b.png]
`

/** The local provider, recording requests and optionally held until released. */
function gatedLocal() {
  const local = createLocalProvider()
  const calls: EditRequest[] = []
  let gate: Promise<void> = Promise.resolve()
  let open: () => void = () => {}
  const provider: ImageEditProvider = {
    ...local,
    generate: async (request, prepared, context) => {
      calls.push(request)
      await gate
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return {
    calls,
    providers: createProviderRegistry({ overrides: { local: provider } }),
    hold: () => {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release: () => open(),
  }
}

describe('DevSession', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function setup() {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, {
      'images.edit.yaml': manifest,
      'refs/a.png': await makeImage({ color: { r: 250, g: 0, b: 0 } }),
      'refs/b.png': await makeImage({ color: { r: 0, g: 0, b: 250 } }),
    })
    const local = gatedLocal()
    const events: SessionEvent[] = []
    const project = await openProject({ cwd: dir, providers: local.providers })
    const session = new DevSession(project, { onEvent: (event) => events.push(event), frozen: false })
    cleanups.push(() => session.close())
    return { dir, local, events, session }
  }

  it('builds without blocking, then reruns exactly the job whose ref changed', async () => {
    const { dir, local, session } = await setup()
    local.hold()
    const first = await session.refresh()
    expect(first.started.sort()).toEqual(['a', 'b'])
    expect(session.jobs().map((job) => job.phase)).not.toContain('ready')
    local.release()
    await session.idle()
    expect(session.jobs().map((job) => [job.id, job.phase, job.images.length])).toEqual([
      ['a', 'ready', 1],
      ['b', 'ready', 1],
    ])
    expect(local.calls).toHaveLength(2)

    await writeFile(join(dir, 'refs/b.png'), await makeImage({ color: { r: 0, g: 250, b: 0 } }))
    const second = await session.refresh()
    expect(second.started).toEqual(['b'])
    await session.idle()
    const prompts = local.calls.map((call) => call.prompt)
    expect(prompts.slice(0, 2).sort()).toEqual(['first', 'second'])
    expect(prompts.slice(2)).toEqual(['second'])
    expect(session.job('b')?.phase).toBe('ready')
  })

  it('keeps the last good state when the manifest breaks, and builds again once fixed', async () => {
    const { dir, events, session } = await setup()
    await session.refresh()
    await session.idle()
    const before = session.jobs()
    await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('prompt: second', 'prompt: second\n    ratio: "7:3"'))
    expect((await session.refresh()).ok).toBe(false)
    const error = events.find((event) => event.type === 'manifest:error')
    expect(error && error.type === 'manifest:error' && error.diagnostics[0]?.line).toBe(9)
    expect(session.jobs()).toEqual(before)
    await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('prompt: second', 'prompt: second again'))
    expect((await session.refresh()).started).toEqual(['b'])
    await session.idle()
    expect(session.job('b')?.phase).toBe('ready')
  })

  it('never abandons a job in flight: its result is kept for when the key comes back', async () => {
    const { dir, local, session } = await setup()
    await session.refresh()
    await session.idle()
    local.hold()
    await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('prompt: second', 'prompt: changed'))
    await session.refresh()
    // Change it back while "changed" is still generating: nothing new starts for the old key...
    await writeFile(join(dir, 'images.edit.yaml'), manifest)
    await session.refresh()
    local.release()
    await session.idle()
    const prompts = local.calls.map((call) => call.prompt)
    expect(prompts.slice(0, 2).sort()).toEqual(['first', 'second'])
    expect(prompts.slice(2)).toEqual(['changed'])
    expect(session.job('b')?.phase).toBe('ready')
    // ...and when "changed" comes back, its paid result is served from the store.
    await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('prompt: second', 'prompt: changed'))
    await session.refresh()
    await session.idle()
    expect(local.calls).toHaveLength(3)
    expect(session.job('b')?.phase).toBe('ready')
  })

  it('a new take keeps the current images until it is done, starts once however often it is asked, and a pick goes back for free', async () => {
    const { session, local } = await setup()
    await session.refresh()
    await session.idle()
    const first = session.job('a')?.images[0]?.sha256
    const quote = await session.quoteTake('a')
    expect(quote).toMatchObject({ job: 'a', take: 2, newImages: 1, paidImages: 0, text: { head: '1 new image on local: free' } })
    local.hold()
    // Asked twice at once (a double click, two tabs): one take, the second is refused.
    const [started, again] = await Promise.allSettled([session.newTake('a', quote.token), session.newTake('a', quote.token)])
    expect(started.status).toBe('fulfilled')
    expect(again).toMatchObject({ status: 'rejected', reason: { message: 'a is being built right now; ask for a new take once it is done' } })
    expect(session.job('a')?.images[0]?.sha256).toBe(first)
    local.release()
    await session.idle()
    expect(local.calls.filter((call) => call.prompt === 'first')).toHaveLength(2)
    const second = session.job('a')?.images[0]?.sha256
    expect(second).not.toBe(first)
    expect((await session.takes(['a']))[0]?.takes.map((take) => [take.take, take.current])).toEqual([
      [1, false],
      [2, true],
    ])

    const view = await session.pick({ job: 'a', take: 1 })
    expect(view.images[0]?.sha256).toBe(first)
    expect(local.calls.filter((call) => call.prompt === 'first')).toHaveLength(2)
    await expect(session.pick({ job: 'a', take: 3 })).rejects.toThrow('a has no take 3 here; its takes: 1, 2. See images-edit takes a.')
  })

  it('renders a placeholder of the exact size', async () => {
    const { session } = await setup()
    await session.refresh()
    const sharp = (await import('sharp')).default
    const meta = await sharp(await session.placeholder('a')).metadata()
    expect([meta.width, meta.height, meta.format]).toEqual([1024, 1024, 'png'])
    await session.idle()
  })
})
