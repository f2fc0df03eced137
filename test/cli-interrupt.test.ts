import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, type ExpectStatic, it } from 'vitest'
import {
  idsOf,
  imageInfo,
  listFiles,
  parseJsonLines,
  readLockFile,
  runCli,
  STACK_LINE,
  sha256File,
  startCli,
  tempDir,
  writeFiles,
  writeImages,
} from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

const RECIPES = Array.from({ length: 12 }, (_, index) => `r${String(index + 1).padStart(2, '0')}`)

/** Twelve 16:9 2k recipes: a build takes a few seconds, long enough to interrupt. */
async function bigProject(): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-kill-')
  cleanups.push(cleanup)
  await writeImages(dir, {
    'refs/a.png': { color: { r: 200, g: 80, b: 40 } },
    'refs/b.png': { color: { r: 30, g: 90, b: 220 } },
  })
  const recipes = RECIPES.map((id, index) => `  ${id}:\n    prompt: poster number ${index + 1}\n    refs: [refs/${index % 2 ? 'a' : 'b'}.png]\n`).join('')
  await writeFiles(dir, {
    'images.edit.yaml': `version: 1\nout: out\ndefaults:\n  provider: local\n  ratio: "16:9"\n  resolution: 2k\nrecipes:\n${recipes}`,
  })
  return dir
}

/** Complete JSON lines of a stream cut off at any point (the last line may be partial). */
function completeEvents(stdout: string) {
  return parseJsonLines(stdout.slice(0, stdout.lastIndexOf('\n') + 1))
}

/** Checks the store and the outputs after a build finished: everything parses, hashes match, sizes are right, no temporary file is left. */
async function expectConsistent(expect: ExpectStatic, dir: string): Promise<void> {
  const store = join(dir, '.images-edit')
  const records = (await listFiles(join(store, 'records'))).filter((name) => name.endsWith('.json'))
  expect(records.length).toBeGreaterThanOrEqual(RECIPES.length)
  for (const name of records) {
    const record = JSON.parse(await readFile(join(store, 'records', name), 'utf8')) as { key: string; takes: { images: { sha256: string }[] }[] }
    expect(`${record.key}.json`).toBe(name)
    for (const take of record.takes)
      for (const image of take.images) expect(await listFiles(join(store, 'objects'))).toContain(`${image.sha256.slice(0, 2)}/${image.sha256.slice(2)}`)
  }
  const objects = await listFiles(join(store, 'objects'))
  expect(objects.length).toBeGreaterThanOrEqual(RECIPES.length)
  for (const path of objects) {
    const bytes = await readFile(join(store, 'objects', path))
    expect(createHash('sha256').update(bytes).digest('hex'), path).toBe(path.replace('/', ''))
  }
  const lock = await readLockFile(dir)
  expect(Object.keys(lock.jobs).sort()).toEqual(RECIPES)
  for (const id of RECIPES) {
    const output = lock.jobs[id]?.outputs[0]
    expect(output?.path).toBe(`out/${id}.png`)
    expect(await sha256File(join(dir, `out/${id}.png`))).toBe(output?.sha256)
    expect(await imageInfo(join(dir, `out/${id}.png`))).toEqual({ width: 2048, height: 1152, format: 'png' })
  }
  expect((await listFiles(dir)).filter((path) => path.includes('.images-edit-tmp-'))).toEqual([])
}

// Concurrent: each test has its own project; contention only makes the builds slower, which suits them.
describe.concurrent('interrupted builds', () => {
  it('kill -9 part-way, then rerun: the store is intact, finished jobs are not redone, no temporary file remains', async ({ expect }) => {
    const dir = await bigProject()
    const killed = startCli(['build', '--json', '--concurrency', '2'], { cwd: dir })
    await killed.waitForStdout(/"type":"job:done"/)
    killed.kill('SIGKILL')
    const exit = await killed.exited
    expect(exit.signal).toBe('SIGKILL')
    const finished = idsOf(completeEvents(killed.stdout()), 'job:done')
    expect(finished.length).toBeGreaterThan(0)
    // Killed part-way: if every job had finished there would be nothing to check.
    expect(finished.length).toBeLessThan(RECIPES.length)

    const rerun = await runCli(['build', '--json'], { cwd: dir })
    expect(rerun.code, rerun.stderr).toBe(0)
    const events = parseJsonLines(rerun.stdout)
    const generated = idsOf(events, 'job:done')
    const reused = [...idsOf(events, 'job:fresh'), ...idsOf(events, 'job:restored')].sort()
    // Every job finished before the kill is reused, never generated again.
    for (const id of finished) expect(generated).not.toContain(id)
    for (const id of finished) expect(reused).toContain(id)
    expect([...generated, ...reused].sort()).toEqual(RECIPES)
    expect(generated.length).toBeLessThanOrEqual(RECIPES.length - finished.length)
    expect(events.at(-1)).toMatchObject({ type: 'run:done', failed: 0, interrupted: false })

    await expectConsistent(expect, dir)
    const status = await runCli(['status'], { cwd: dir })
    expect(status.stdout).toMatch(/^12\/12 up to date$/m)
  })

  it('after a kill -9, gc does not delete the outputs of recipes still in the manifest', async ({ expect }) => {
    const dir = await bigProject()
    const killed = startCli(['build', '--json', '--concurrency', '2'], { cwd: dir })
    await killed.waitForStdout(/"type":"job:done"/)
    killed.kill('SIGKILL')
    await killed.exited
    const finished = idsOf(completeEvents(killed.stdout()), 'job:done')
    expect(finished.length).toBeGreaterThan(0)
    expect(finished.length).toBeLessThan(RECIPES.length)
    // A temporary file of the killed writer (when the kill lands mid-write) is swept by gc, by design.
    const written = (await listFiles(join(dir, 'out'))).filter((name) => !name.includes('.images-edit-tmp-'))
    for (const id of finished) expect(written).toContain(`${id}.png`)

    // The lock is written at the end of a run, so it does not list them yet; the manifest does.
    const dry = await runCli(['gc', '--dry-run'], { cwd: dir })
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).not.toMatch(/would delete output/)
    const gc = await runCli(['gc'], { cwd: dir })
    expect(gc.code, gc.stderr).toBe(0)
    expect(await listFiles(join(dir, 'out'))).toEqual(written)
  })

  it('temporary files left by a dead writer, in the store and beside the outputs, are swept by the next build', async ({ expect }) => {
    const dir = await bigProject()
    expect((await runCli(['build', 'r01'], { cwd: dir })).code).toBe(0)
    // What a `kill -9` during an atomic write leaves behind: `<marker><name>-<pid>-<random>` of a process that is gone.
    const deadPid = 2_147_483_646
    const leftovers = [
      `.images-edit/records/.images-edit-tmp-abc.json-${deadPid}-0a1b2c3d`,
      `.images-edit/.images-edit-tmp-outputs.json-${deadPid}-0a1b2c3d`,
      `out/.images-edit-tmp-r01.png-${deadPid}-0a1b2c3d`,
      `.images-edit-tmp-images.edit.lock-${deadPid}-0a1b2c3d`,
    ]
    for (const path of leftovers) await writeFiles(dir, { [path]: 'partial' })
    const build = await runCli(['build'], { cwd: dir })
    expect(build.code, build.stderr).toBe(0)
    expect((await listFiles(dir)).filter((path) => path.includes('.images-edit-tmp-'))).toEqual([])
  })

  it('SIGINT part-way exits 130 and says to rerun; the rerun completes the rest', async ({ expect }) => {
    const dir = await bigProject()
    const interrupted = startCli(['build', '--concurrency', '1'], { cwd: dir })
    await interrupted.waitForStdout(/^✓ /m)
    interrupted.kill('SIGINT')
    const exit = await interrupted.exited
    expect(exit.code, interrupted.stdout() + interrupted.stderr()).toBe(130)
    expect(interrupted.stderr()).toMatch(/interrupted/)
    expect(interrupted.stderr()).toMatch(/Rerun `images-edit build`/)
    const finished = interrupted.stdout().match(/^✓ /gm)?.length ?? 0
    expect(finished).toBeGreaterThan(0)
    expect(finished).toBeLessThan(RECIPES.length)
    // What finished is in the lock already.
    expect(Object.keys((await readLockFile(dir)).jobs)).toHaveLength(finished)

    const rerun = await runCli(['build', '--json'], { cwd: dir })
    expect(rerun.code, rerun.stderr).toBe(0)
    const events = parseJsonLines(rerun.stdout)
    expect(idsOf(events, 'job:done')).toHaveLength(RECIPES.length - finished)
    await expectConsistent(expect, dir)
  })
})

describe('a closed output pipe', () => {
  it('build --json | head -1: the reader going away is not a crash with a stack trace, and the rerun completes', async ({ expect }) => {
    const dir = await bigProject()
    const piped = startCli(['build', '--json', '--concurrency', '2'], { cwd: dir })
    await piped.waitForStdout(/"type":"plan"/)
    piped.closeStdout()
    const exit = await piped.exited
    expect(exit.signal).toBe(null)

    // Whatever happened, the project is not damaged: the rerun completes.
    const rerun = await runCli(['build'], { cwd: dir })
    expect(rerun.code, rerun.stderr).toBe(0)
    await expectConsistent(expect, dir)

    // A reader that goes away is normal (`| head`, `| grep -m1`): no unhandled error, no stack trace.
    expect(piped.stderr()).not.toMatch(/EPIPE|Unhandled 'error' event/)
    expect(piped.stderr()).not.toMatch(STACK_LINE)
  })
})
