/**
 * Ctrl-C never costs a paid result (issue 9, points 2, 4, 7, 10). The first Ctrl-C stops new work
 * but lets paid calls already sent be answered and journaled; the second abandons them and names
 * each job that may have been billed. A refused paid call waits out its Retry-After without
 * holding a slot. aa's early answer is kept as billed. A journaled task of an interrupted
 * `--force` is collected by the next plain build.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { imageInfo, makeImage, readLockFile, runCli, startCli } from '../helpers.js'
import { journalFiles, Resources, requestsOn, serverEnv, until } from '../providers/harness.js'
import { completed, type HostileScript, startHostile } from './hostile-toapis.js'

const KEY = 'sk-interrupt-test-key-000000000000'
const resources = new Resources()
afterEach(() => resources.release())

async function hostileProject(script: HostileScript, recipes: Record<string, Record<string, unknown>>, concurrency?: number) {
  const server = await startHostile(script)
  resources.add(() => server.close())
  const dir = await resources.project({ provider: 'toapis', recipes, ...(concurrency ? { concurrency } : {}) })
  return { server, dir, env: { TOAPIS_API_KEY: KEY, IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrl } }
}

const hero = { hero: { prompt: 'a hero shot', refs: ['refs/a.png'], name: 'hero.png' } }

describe('Ctrl-C and paid calls in flight', () => {
  it('one Ctrl-C during a toapis submit waits for its answer, journals the task, exits 130; the rerun collects it without paying (2)', async () => {
    const bytes = await makeImage({ width: 1024, height: 1024 })
    const { server, dir, env } = await hostileProject(
      { submit: (n) => ({ delayMs: 1500, body: { id: `tsk_${n}`, status: 'queued' } }), poll: (_n, _id, s) => completed([s.file('r.png', bytes)]) },
      hero,
    )
    const cli = startCli(['build', '--no-frozen'], { cwd: dir, env })
    await until(() => server.counts.submit === 1, 30_000, 'the submit to arrive')
    cli.kill('SIGINT')
    const exit = await cli.exited
    expect(exit.code, cli.stdout() + cli.stderr()).toBe(130)
    expect(cli.stdout()).toMatch(/stopping: nothing new starts; waiting for 1 paid call already sent[^\n]*hero \(toapis submit\)[^\n]*Ctrl-C again to abandon/)
    expect(cli.stderr()).toMatch(/toapis task tsk_1/)
    expect(await journalFiles(dir)).toHaveLength(1)
    const rerun = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(server.counts.submit).toBe(1)
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ width: 1024 })
  })

  it('one Ctrl-C during a synchronous aa call keeps its answer: downloaded, stored, written; the rerun pays nothing (2)', async () => {
    const server = await resources.server({ latencyMs: 1500 })
    const dir = await resources.project({ provider: 'aa', recipes: hero })
    const env = serverEnv(server)
    const cli = startCli(['build', '--no-frozen'], { cwd: dir, env })
    await until(() => requestsOn(server, 'aa.generate').length === 1, 30_000, 'the aa call to arrive')
    cli.kill('SIGINT')
    const exit = await cli.exited
    expect(exit.code, cli.stdout() + cli.stderr()).toBe(130)
    expect(cli.stdout()).toMatch(/waiting for 1 paid call already sent[^\n]*hero \(aa generate\)/)
    const rerun = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(server.submits()).toBe(1)
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ width: 1024 })
  })

  it('a second Ctrl-C abandons the paid call and names the job that may have been billed (2)', async () => {
    const server = await resources.server({ latencyMs: 20_000 })
    const dir = await resources.project({ provider: 'openai', recipes: hero })
    const cli = startCli(['build', '--no-frozen'], { cwd: dir, env: serverEnv(server) })
    await until(() => requestsOn(server, 'openai.edit').length === 1, 30_000, 'the openai call to arrive')
    cli.kill('SIGINT')
    await cli.waitForStdout(/stopping:/)
    cli.kill('SIGINT')
    const exit = await cli.exited
    expect(exit.code).toBe(130)
    expect(cli.stderr()).toMatch(/hero: may have been billed/)
  })

  it('Ctrl-C while a paid request waits for its rate-gate turn sends nothing more; the rerun pays only for that job', async () => {
    const server = await resources.server({ latencyMs: 200 })
    const recipes = { a: { prompt: 'first', refs: ['refs/a.png'], name: 'a.png' }, b: { prompt: 'second', refs: ['refs/a.png'], name: 'b.png' } }
    // Four paid requests a minute: the second job waits 15 s for its turn.
    const dir = await resources.project({ provider: 'aa', recipes, settings: { requestsPerMinute: 4 }, concurrency: 2 })
    const env = serverEnv(server)
    const cli = startCli(['build', '--no-frozen'], { cwd: dir, env })
    await cli.waitForStdout(/✓ (a|b) /, 30_000)
    cli.kill('SIGINT')
    const exit = await cli.exited
    expect(exit.code, cli.stdout() + cli.stderr()).toBe(130)
    expect(requestsOn(server, 'aa.generate')).toHaveLength(1)
    const rerun = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(requestsOn(server, 'aa.generate')).toHaveLength(2)
  })

  it('a Retry-After above 60 s is honoured, shown, and the slot is released meanwhile (4)', async () => {
    const bytes = await makeImage({ width: 1024, height: 1024 })
    const { server, dir, env } = await hostileProject(
      {
        submit: (n, body) =>
          String(body.prompt).startsWith('first') && n === 1
            ? { status: 429, headers: { 'retry-after': '90' }, body: { error: { code: 'rate_limit_exceeded', message: 'slow down' } } }
            : { body: { id: `tsk_${n}`, status: 'queued' } },
        poll: (_n, id, s) => completed([s.file(`${id}.png`, bytes)]),
      },
      {
        a: { prompt: 'first recipe', refs: ['refs/a.png'], name: 'a.png' },
        b: { prompt: 'second recipe', refs: ['refs/a.png'], name: 'b.png' },
      },
      1,
    )
    const cli = startCli(['build', '--no-frozen'], { cwd: dir, env })
    // With one slot, b can only run because a gave its slot back while waiting out the 90 s.
    await cli.waitForStdout(/✓ b /, 60_000)
    expect(cli.stdout()).toMatch(/a waiting — [^\n]*retry 1 of \d+ in 1m 30s \(slot released\)/)
    expect(server.submits.filter((body) => String(body.prompt).startsWith('first'))).toHaveLength(1)
    cli.kill('SIGINT')
    expect((await cli.exited).code).toBe(130)
    expect(server.submits.filter((body) => String(body.prompt).startsWith('first'))).toHaveLength(1)
  })
})

describe('billed but not collected', () => {
  it('aa answering early (code "0", a task id, no urls) is reported billed with its id, and a rerun does not pay again (7)', async () => {
    const server = await resources.server()
    const dir = await resources.project({ provider: 'aa', recipes: hero })
    const env = serverEnv(server)
    server.fault('aa.generate', { kind: 'aa-early', codeAsString: true })
    const first = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(first.code).toBe(1)
    expect(first.stderr).toMatch(/hero: billed \(task [^)]+\)/)
    expect(await journalFiles(dir)).toHaveLength(1)
    const second = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/never delivered[^\n]*--force hero/)
    expect(requestsOn(server, 'aa.generate')).toHaveLength(1)
    const forced = await runCli(['build', '--no-frozen', '--force', 'hero'], { cwd: dir, env })
    expect(forced.code, forced.stderr).toBe(0)
    expect(requestsOn(server, 'aa.generate')).toHaveLength(2)
  })

  it('a forced build interrupted after its submit is collected by the next plain build and becomes the job take (10)', async () => {
    const bytes = await makeImage({ width: 1024, height: 1024, color: { r: 1, g: 2, b: 3 } })
    const { server, dir, env } = await hostileProject(
      {
        submit: (n) => ({ delayMs: n === 2 ? 1500 : 0, body: { id: `tsk_${n}`, status: 'queued' } }),
        poll: (_n, id, s) => completed([s.file(`${id}.png`, bytes)]),
      },
      hero,
    )
    expect((await runCli(['build', '--no-frozen'], { cwd: dir, env })).code).toBe(0)
    expect((await readLockFile(dir)).jobs.hero?.take).toBe(1)
    const cli = startCli(['build', '--no-frozen', '--force', 'hero'], { cwd: dir, env })
    await until(() => server.counts.submit === 2, 30_000, 'the forced submit')
    cli.kill('SIGINT')
    expect((await cli.exited).code).toBe(130)
    expect(await journalFiles(dir)).toHaveLength(1)
    const plan = await runCli(['plan'], { cwd: dir, env })
    expect(plan.stdout).toMatch(/take 2 was started by an interrupted run/)
    expect(plan.stdout).toMatch(/0 paid/)
    const plain = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(plain.code, plain.stderr).toBe(0)
    expect(server.counts.submit).toBe(2)
    expect(await journalFiles(dir)).toHaveLength(0)
    expect((await readLockFile(dir)).jobs.hero?.take).toBe(2)
  })

  it('a journaled task whose recipe changed since is still collected into the store by the next full build (10)', async () => {
    const bytes = await makeImage({ width: 1024, height: 1024, color: { r: 9, g: 9, b: 9 } })
    const { server, dir, env } = await hostileProject(
      {
        submit: (n) => ({ delayMs: n === 1 ? 1500 : 0, body: { id: `tsk_${n}`, status: 'queued' } }),
        poll: (_n, id, s) => completed([s.file(`${id}.png`, bytes)]),
      },
      hero,
    )
    const cli = startCli(['build', '--no-frozen'], { cwd: dir, env })
    await until(() => server.counts.submit === 1, 30_000, 'the submit')
    cli.kill('SIGINT')
    expect((await cli.exited).code).toBe(130)
    const manifestPath = join(dir, 'images.edit.yaml')
    const original = await readFile(manifestPath, 'utf8')
    await writeFile(manifestPath, original.replace('a hero shot', 'a different hero shot'))
    const edited = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(edited.code, edited.stderr).toBe(0)
    expect(edited.stdout).toMatch(/collected toapis task tsk_1, paid by an earlier run/)
    expect(await journalFiles(dir)).toHaveLength(0)
    expect(server.counts.submit).toBe(2)
    // Back to the first prompt: its paid image is in the store, so nothing is paid.
    await writeFile(manifestPath, original)
    const back = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(back.code, back.stderr).toBe(0)
    expect(server.counts.submit).toBe(2)
  })
})
