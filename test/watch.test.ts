import { rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import {
  idsOf,
  imageInfo,
  type JsonEvent,
  listFiles,
  makeImage,
  parseJsonLines,
  type RunningCli,
  runCli,
  STACK_LINE,
  sha256File,
  startCli,
  tempDir,
  writeFiles,
  writeImages,
} from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
const running = new Set<RunningCli>()
afterAll(async () => {
  for (const cli of running) cli.kill('SIGKILL')
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

const MANIFEST = `version: 1
out: out
defaults:
  provider: local
recipes:
  a:
    prompt: first
    refs: [refs/a.png]
  b:
    prompt: second
    refs: [refs/b.png]
  both:
    prompt: both together
    refs: [refs/a.png, refs/b.png]
  product:
    each: photos/*.png
    prompt: the {stem} on marble
    refs: ["{file}"]
    name: products/{stem}.{ext}
`

async function project(manifest = MANIFEST): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-watch-')
  cleanups.push(cleanup)
  await writeImages(dir, {
    'refs/a.png': { color: { r: 220, g: 30, b: 30 } },
    'refs/b.png': { color: { r: 30, g: 30, b: 220 } },
    'photos/one.png': { color: { r: 30, g: 200, b: 30 } },
  })
  await writeFiles(dir, { 'images.edit.yaml': manifest })
  return dir
}

/** Six 4k 16:9 recipes: the local provider takes a few seconds, long enough to interrupt. */
async function bigProject(): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-watch-')
  cleanups.push(cleanup)
  await writeImages(dir, { 'refs/a.png': {} })
  const recipes = [1, 2, 3, 4, 5, 6].map((index) => `  r${index}:\n    prompt: poster ${index}\n    refs: [refs/a.png]\n`).join('')
  await writeFiles(dir, { 'images.edit.yaml': `version: 1\nout: out\ndefaults:\n  provider: local\n  ratio: "16:9"\n  resolution: 4k\nrecipes:\n${recipes}` })
  return dir
}

/** Complete JSON lines of stdout from `offset` on (the last line may still be partial). */
function eventsFrom(cli: RunningCli, offset = 0): JsonEvent[] {
  const text = cli.stdout().slice(offset)
  return parseJsonLines(text.slice(0, text.lastIndexOf('\n') + 1))
}

/** Polls until `check` holds; on timeout fails with both streams. */
async function waitUntil(cli: RunningCli, what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Waits for a `build:done` event after `offset`. */
function buildDone(cli: RunningCli, offset: number, what: string): Promise<void> {
  return waitUntil(cli, what, () => eventsFrom(cli, offset).some((event) => event.type === 'build:done'))
}

/** Starts `watch --json` and waits for the initial build and the watcher. */
async function startWatch(dir: string, args: string[] = []): Promise<RunningCli> {
  const cli = startCli(['watch', '--json', ...args], { cwd: dir })
  running.add(cli)
  await waitUntil(cli, 'the initial build and the watcher', () => {
    const events = eventsFrom(cli)
    return events.some((event) => event.type === 'build:done') && events.some((event) => event.type === 'watching')
  })
  return cli
}

/** Ctrl-C, and the exit code; the process must end by itself. */
async function stop(cli: RunningCli): Promise<number | null> {
  cli.kill('SIGINT')
  const exit = await cli.exited
  running.delete(cli)
  return exit.code
}

/** sha256 of every output file, by path. */
async function outputHashes(dir: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {}
  for (const path of await listFiles(join(dir, 'out'))) hashes[path] = await sha256File(join(dir, 'out', path))
  return hashes
}

/** Lets events that a bug would cause arrive before asserting that none did. */
const settle = (ms = 1000) => new Promise((resolve) => setTimeout(resolve, ms))

describe.concurrent('images-edit watch', () => {
  it('edit one ref: exactly the recipes using it rerun, the other outputs keep their bytes', async ({ expect }) => {
    const dir = await project()
    const cli = await startWatch(dir)
    expect(idsOf(eventsFrom(cli), 'job:done')).toEqual(['a', 'b', 'both', 'product/one.png'])
    const watching = eventsFrom(cli).find((event) => event.type === 'watching')
    expect(watching).toMatchObject({ files: ['images.edit.yaml', 'photos/one.png', 'refs/a.png', 'refs/b.png'], folders: ['photos'] })
    const before = await outputHashes(dir)

    const offset = cli.stdout().length
    await writeImages(dir, { 'refs/b.png': { color: { r: 250, g: 250, b: 0 } } })
    await buildDone(cli, offset, 'the rebuild after editing refs/b.png')
    await settle()
    const events = eventsFrom(cli, offset)
    expect(idsOf(events, 'job:done')).toEqual(['b', 'both'])
    expect(events.filter((event) => event.type === 'change')).toEqual([{ type: 'change', paths: ['refs/b.png'], rerun: ['b', 'both'] }])
    expect(events.filter((event) => event.type === 'build:done')).toHaveLength(1)

    const after = await outputHashes(dir)
    expect(after['a.png']).toBe(before['a.png'])
    expect(after['products/one.png']).toBe(before['products/one.png'])
    expect(after['b.png']).not.toBe(before['b.png'])
    expect(after['both.png']).not.toBe(before['both.png'])
    expect(await stop(cli)).toBe(130)
  })

  it('a manifest edit with an error prints it located and keeps the outputs; the fix builds again', async ({ expect }) => {
    const dir = await project()
    const cli = await startWatch(dir)
    const before = await outputHashes(dir)

    const broken = MANIFEST.replace('    prompt: second\n', '    prompt: second\n    ratio: 7\n')
    const brokenLine = broken.split('\n').indexOf('    ratio: 7') + 1
    let offset = cli.stdout().length
    await writeFile(join(dir, 'images.edit.yaml'), broken)
    await waitUntil(cli, 'the manifest error', () => /keeping the last good manifest/.test(cli.stderr()))
    expect(cli.stderr()).toMatch(new RegExp(`^images\\.edit\\.yaml:${brokenLine}:\\d+: error: .*ratio`, 'm'))
    expect(cli.stderr()).not.toMatch(STACK_LINE)
    expect(eventsFrom(cli, offset).map((event) => event.type)).toContain('manifest:error')
    await settle(500)
    expect(idsOf(eventsFrom(cli, offset), 'job:done')).toEqual([])
    expect(await outputHashes(dir)).toEqual(before)

    // Saved the way editors do: a temporary file renamed over the manifest.
    offset = cli.stdout().length
    await writeFile(join(dir, '.images.edit.yaml.tmp'), MANIFEST.replace('prompt: second\n', 'prompt: second, fixed\n'))
    await rename(join(dir, '.images.edit.yaml.tmp'), join(dir, 'images.edit.yaml'))
    await buildDone(cli, offset, 'the rebuild after fixing the manifest')
    const events = eventsFrom(cli, offset)
    expect(idsOf(events, 'job:done')).toEqual(['b'])
    expect(events.find((event) => event.type === 'change')).toMatchObject({ paths: ['images.edit.yaml'], rerun: ['b'] })
    const after = await outputHashes(dir)
    expect(after['b.png']).not.toBe(before['b.png'])
    expect({ ...after, 'b.png': '' }).toEqual({ ...before, 'b.png': '' })
    expect(await stop(cli)).toBe(130)
  })

  it('a ref deleted and put back a while later is seen again', async ({ expect }) => {
    const dir = await project()
    const cli = await startWatch(dir)
    let offset = cli.stdout().length
    await rm(join(dir, 'refs/b.png'))
    await waitUntil(cli, 'the missing-ref error', () => /keeping the last good manifest/.test(cli.stderr()))
    expect(cli.stderr()).toMatch(/^images\.edit\.yaml:\d+:\d+: error: .*refs\/b\.png/m)
    await settle()
    expect(idsOf(eventsFrom(cli, offset), 'job:done')).toEqual([])

    offset = cli.stdout().length
    await writeImages(dir, { 'refs/b.png': { color: { r: 0, g: 250, b: 250 } } })
    await buildDone(cli, offset, 'the rebuild after restoring refs/b.png')
    expect(idsOf(eventsFrom(cli, offset), 'job:done')).toEqual(['b', 'both'])
    expect(await stop(cli)).toBe(130)
  })

  it('a new file in an `each` folder fans out into a new job and its output', async ({ expect }) => {
    const dir = await project()
    const cli = await startWatch(dir)
    const offset = cli.stdout().length
    await writeFiles(dir, { 'photos/two.png': await makeImage({ width: 40, height: 40, color: { r: 10, g: 10, b: 10 } }) })
    await buildDone(cli, offset, 'the new fan-out job')
    const events = eventsFrom(cli, offset)
    expect(idsOf(events, 'job:done')).toEqual(['product/two.png'])
    expect(events.find((event) => event.type === 'watching')).toMatchObject({ files: expect.arrayContaining(['photos/two.png']) })
    expect(await imageInfo(join(dir, 'out/products/two.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })
    expect(await stop(cli)).toBe(130)
  })

  it('its own writes (outputs, store, lock, temporary files) never trigger a rerun, even with the project folder watched', async ({ expect }) => {
    // `each: "*.png"` watches the manifest's own folder, where out/, .images-edit/ and the lock live.
    const dir = await project(
      `version: 1\nout: out\ndefaults:\n  provider: local\nrecipes:\n  top:\n    each: "*.png"\n    prompt: the {stem}\n    refs: ["{file}"]\n`,
    )
    await writeImages(dir, { 'cover.png': { color: { r: 90, g: 90, b: 90 } } })
    const cli = await startWatch(dir)
    expect(eventsFrom(cli).find((event) => event.type === 'watching')).toMatchObject({ folders: ['.'] })
    expect(idsOf(eventsFrom(cli), 'job:done')).toEqual(['top/cover.png'])
    const offset = cli.stdout().length
    await settle()
    await writeFiles(dir, {
      'out/stray.png': await makeImage(),
      'out/top/cover.png': await makeImage({ color: { r: 1, g: 2, b: 3 } }),
      '.images-edit/scratch.json': '{}',
      'images.edit.lock': '# touched\n',
      '.images-edit-tmp-x.png-1-abc': 'partial',
    })
    await settle()
    const events = eventsFrom(cli, offset)
    expect(events.filter((event) => ['change', 'plan', 'job:done', 'manifest:ok'].includes(event.type))).toEqual([])
    expect(await stop(cli)).toBe(130)
  })

  it('Ctrl-C when idle exits 130 with a clean message', async ({ expect }) => {
    const dir = await project()
    const cli = startCli(['watch'], { cwd: dir })
    running.add(cli)
    await cli.waitForStdout(/watching 4 files and 1 folder/)
    await cli.waitForStdout(/4 generated, 0 restored, 0 failed · outputs in out\//)
    expect(await stop(cli)).toBe(130)
    expect(cli.stderr()).toBe('stopped watching; nothing was in flight.\n')
  })

  it('in CI (frozen by default): says which jobs are blocked and why, and generates nothing', async ({ expect }) => {
    const dir = await project()
    const cli = startCli(['watch'], { cwd: dir, env: { CI: 'true' } })
    running.add(cli)
    await cli.waitForStdout(/watching 4 files and 1 folder/)
    await waitUntil(cli, 'four blocked lines', () => (cli.stdout().match(/blocked: .*frozen/g) ?? []).length === 4)
    expect(await stop(cli)).toBe(130)
    expect(await listFiles(join(dir, 'out'))).toEqual([])
  })

  it('Ctrl-C during a build exits 130, keeps what finished, and a rerun builds only the rest', async ({ expect }) => {
    const dir = await bigProject()
    const cli = startCli(['watch', '--json'], { cwd: dir })
    running.add(cli)
    await cli.waitForStdout(/"type":"job:started"/)
    expect(await stop(cli)).toBe(130)
    const stopped = eventsFrom(cli).find((event) => event.type === 'stopped') as JsonEvent & Record<'inFlight' | 'finished' | 'interrupted', string[]>
    expect(stopped.inFlight.length).toBeGreaterThan(0)
    // A render already running may still finish (and is kept); the rest are interrupted, none is lost.
    expect([...stopped.finished, ...stopped.interrupted].sort()).toEqual([...stopped.inFlight].sort())
    const done = idsOf(eventsFrom(cli), 'job:done')
    for (const id of stopped.finished) expect(done).toContain(id)
    for (const id of stopped.interrupted) expect(done).not.toContain(id)
    expect(cli.stderr()).not.toMatch(STACK_LINE)

    const rerun = await runCli(['build', '--json'], { cwd: dir })
    expect(rerun.code, rerun.stderr).toBe(0)
    const events = parseJsonLines(rerun.stdout)
    for (const id of done) expect(idsOf(events, 'job:done')).not.toContain(id)
    expect(events.at(-1)).toMatchObject({ type: 'run:done', failed: 0, fresh: done.length })
  })

  it('Ctrl-C during a build, on plain output, says what was in flight', async ({ expect }) => {
    const dir = await bigProject()
    const cli = startCli(['watch'], { cwd: dir })
    running.add(cli)
    await cli.waitForStdout(/^plan: 6 jobs/m)
    expect(await stop(cli)).toBe(130)
    expect(cli.stderr()).toMatch(/^stopping: \d+ jobs? in flight \(r\d.*\); paid calls already sent are answered first — Ctrl-C again to abandon them$/m)
    expect(cli.stderr()).toMatch(/^stopped watching; \d+ jobs? (was|were) in flight: \d+ (finished|interrupted) \(r\d/m)
    expect(cli.stderr()).not.toMatch(STACK_LINE)
  })
})
