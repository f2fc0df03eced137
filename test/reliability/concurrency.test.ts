/**
 * Several images-edit processes on one project at once — two CLI builds, `watch`, and a Vite dev
 * server (in this process) — against one fake toapis server (also in this process; the CLIs are
 * child processes, so nothing here may block the event loop). Each job is paid for exactly once,
 * the lock and the store end consistent, and a reader polling the lock, the records and the
 * outputs while they are written never sees a torn file.
 *
 * Two CLI builds alone: test/providers/two-processes.test.ts.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { canonicalJson, sha256 } from '@images-edit/core'
import type { FakeProviderServer } from '@images-edit/fake-provider'
import { createServer, type ViteDevServer } from 'vite'
import imagesEdit, { type PanelState } from 'vite-plugin-images-edit'
import { afterAll, describe, type ExpectStatic, it } from 'vitest'
import { type CliResult, parseJsonLines, type RunningCli, runCli, startCli } from '../helpers.js'
import { journalFiles, Resources, serverEnv, until } from '../providers/harness.js'
import { lockProblems, storeProblems, temporaryFiles } from './integrity.js'

const figures: Record<string, unknown> = {}
afterAll(() => {
  console.log(`[reliability figures] concurrency: ${JSON.stringify(figures)}`)
})

const recipesOf = (tag: string, ids: readonly string[]) =>
  Object.fromEntries(ids.map((id, index) => [id, { prompt: `${tag} poster ${id}`, refs: [index % 2 ? 'refs/a.png' : 'refs/b.jpg'], ratio: '4:3' }]))

/**
 * Reads the lock, every record and every output over and over until stopped; collects any read
 * that is not a whole file (a lock that does not parse, a record whose checksum fails, a PNG
 * without its end chunk).
 */
function tornReadWatcher(dir: string) {
  const torn: string[] = []
  let reads = 0
  let stopped = false
  const readOrNothing = (path: string) => readFile(path).catch(() => undefined)
  const loop = (async () => {
    const { parse } = await import('yaml')
    while (!stopped) {
      const lock = await readOrNothing(join(dir, 'images.edit.lock'))
      if (lock) {
        reads++
        try {
          const value = parse(lock.toString('utf8')) as { lockfileVersion?: unknown; jobs?: unknown }
          if (value?.lockfileVersion !== 1 || typeof value.jobs !== 'object') torn.push(`lock without lockfileVersion/jobs: ${lock.length} bytes`)
        } catch (error) {
          torn.push(`lock does not parse: ${(error as Error).message}`)
        }
      }
      for (const name of await readdir(join(dir, '.images-edit/records')).catch(() => [] as string[])) {
        if (!name.endsWith('.json') || name.includes('.images-edit-tmp-')) continue
        const text = await readOrNothing(join(dir, '.images-edit/records', name))
        if (!text) continue
        reads++
        try {
          const { checksum, ...record } = JSON.parse(text.toString('utf8')) as { checksum?: string }
          if (checksum !== sha256(canonicalJson(record))) torn.push(`record ${name}: checksum mismatch`)
        } catch (error) {
          torn.push(`record ${name}: ${(error as Error).message}`)
        }
      }
      for (const name of await readdir(join(dir, 'out')).catch(() => [] as string[])) {
        if (!name.endsWith('.png')) continue
        const bytes = await readOrNothing(join(dir, 'out', name))
        if (!bytes) continue
        reads++
        if (!bytes.subarray(-12).includes(Buffer.from('IEND'))) torn.push(`out/${name}: ${bytes.length} bytes without IEND`)
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      return { torn, reads }
    },
  }
}

/** A Vite dev server with the plugin on the project; resolves once the dev panel shows every job ready. */
async function viteDevServer(dir: string, env: Record<string, string>, jobs: number, cleanups: (() => Promise<void>)[]) {
  const server: ViteDevServer = await createServer({
    root: dir,
    configFile: false,
    logLevel: 'silent',
    plugins: [imagesEdit({ env: { ...process.env, ...env }, frozen: false })],
    server: { port: 0, host: '127.0.0.1' },
  })
  cleanups.push(() => server.close())
  await server.listen()
  const base = server.resolvedUrls?.local[0] as string
  const panel = await fetch(new URL('/__images-edit/', base))
  const panelOk = panel.status === 200 && (await panel.text()).includes('images-edit')
  let state: PanelState | undefined
  const ready = until(
    async () => {
      state = (await (await fetch(new URL('/__images-edit/state.json', base))).json()) as PanelState
      if ((state.counts.failed ?? 0) > 0) throw new Error(`the dev server reports failed jobs: ${JSON.stringify(state.recipes)}`)
      return state.counts.ready === jobs
    },
    90_000,
    'the dev panel to show every job ready',
  )
  return { server, panelOk, ready: ready.then(() => state as PanelState) }
}

/** How many tasks a `--json` output reports as submitted by its process. */
function submittedIn(stdout: string): number {
  return parseJsonLines(stdout.slice(0, stdout.lastIndexOf('\n') + 1)).filter((event) => event.type === 'job:progress' && event.stage === 'submitted').length
}

/** `watch --json` until its initial build is done, then Ctrl-C. */
async function watchOnce(dir: string, env: Record<string, string>, running: Set<RunningCli>) {
  const cli = startCli(['watch', '--json'], { cwd: dir, env })
  running.add(cli)
  await cli.waitForStdout(/"type":"build:done"/, 90_000)
  const build = parseJsonLines(cli.stdout().slice(0, cli.stdout().lastIndexOf('\n') + 1)).find((event) => event.type === 'build:done')
  cli.kill('SIGINT')
  const exit = await cli.exited
  running.delete(cli)
  return { build, exit, stdout: cli.stdout(), stderr: cli.stderr() }
}

async function expectConsistent(
  expect: ExpectStatic,
  server: FakeProviderServer,
  dir: string,
  tag: string,
  ids: readonly string[],
  env: Record<string, string>,
) {
  // Paid exactly once per job across every process.
  expect(server.submits(), 'submits in all').toBe(ids.length)
  for (const id of ids) expect(server.submits(`${tag} poster ${id}`), `submits of ${id}`).toBe(1)
  const { problems, lock } = await lockProblems(dir, { jobs: ids, size: { width: 1024, height: 768, format: 'png' } })
  expect(problems).toEqual([])
  for (const id of ids) expect(lock?.jobs[id]?.outputs.map((output) => output.path)).toEqual([`out/${id}.png`])
  const store = await storeProblems(dir)
  expect(store.problems).toEqual([])
  expect(store.records).toBe(ids.length)
  expect(await journalFiles(dir)).toEqual([])
  expect(await temporaryFiles(dir)).toEqual([])
  // CI would accept it: nothing left to generate.
  const frozen = await runCli(['build', '--frozen'], { cwd: dir, env })
  expect(frozen.code, frozen.stdout + frozen.stderr).toBe(0)
  expect(server.submits()).toBe(ids.length)
}

describe.concurrent('processes on one project at once', () => {
  const resources = new Resources()
  const running = new Set<RunningCli>()
  const cleanups: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const cli of running) cli.kill('SIGKILL')
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
    await resources.release()
  })

  it('four at once — two `build`, one `watch`, one Vite dev server — on 8 toapis recipes: 8 submits, one per job; lock, store and outputs consistent; no torn read; `build --frozen` passes', async ({
    expect,
  }) => {
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8']
    const server = await resources.server({ latencyMs: 800 })
    const dir = await resources.project({ provider: 'toapis', recipes: recipesOf('four', ids) })
    const env = serverEnv(server)
    const reader = tornReadWatcher(dir)

    const builds: Promise<CliResult>[] = [runCli(['build', '--json'], { cwd: dir, env }), runCli(['build', '--json'], { cwd: dir, env })]
    const watch = watchOnce(dir, env, running)
    const vite = await viteDevServer(dir, env, ids.length, cleanups)
    const [first, second] = await Promise.all(builds)
    const watched = await watch
    const panel = await vite.ready
    await vite.server.close()
    const { torn, reads } = await reader.stop()

    expect(vite.panelOk, 'the dev panel page answers').toBe(true)
    for (const run of [first, second]) {
      expect(run?.code, run?.stderr).toBe(0)
      expect(parseJsonLines(run?.stdout ?? '').at(-1)).toMatchObject({ type: 'run:done', failed: 0 })
    }
    expect(watched.build, watched.stderr).toMatchObject({ type: 'build:done', failed: [], interrupted: false })
    expect(watched.exit.code, watched.stderr).toBe(130)
    expect(panel.counts).toMatchObject({ ready: ids.length, failed: 0 })
    expect(torn, `${reads} reads`).toEqual([])
    expect(reads).toBeGreaterThan(0)
    await expectConsistent(expect, server, dir, 'four', ids, env)
    const submittedBy = [first?.stdout ?? '', second?.stdout ?? '', watched.stdout].map(submittedIn)
    figures.four = {
      processes: 4,
      jobs: ids.length,
      submits: server.submits(),
      submittedBy: [...submittedBy, ids.length - submittedBy.reduce((a, b) => a + b, 0)],
      reads,
      torn: torn.length,
    }
  })

  it('two at once — `watch` and a Vite dev server — on 8 toapis recipes: 8 submits, consistent lock and store, no torn read', async ({ expect }) => {
    const ids = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8']
    const server = await resources.server({ latencyMs: 800 })
    const dir = await resources.project({ provider: 'toapis', recipes: recipesOf('two', ids) })
    const env = serverEnv(server)
    const reader = tornReadWatcher(dir)

    const watch = watchOnce(dir, env, running)
    const vite = await viteDevServer(dir, env, ids.length, cleanups)
    const watched = await watch
    const panel = await vite.ready
    await vite.server.close()
    const { torn, reads } = await reader.stop()

    expect(vite.panelOk).toBe(true)
    expect(watched.build, watched.stderr).toMatchObject({ type: 'build:done', failed: [], interrupted: false })
    expect(watched.exit.code, watched.stderr).toBe(130)
    expect(panel.counts).toMatchObject({ ready: ids.length, failed: 0 })
    expect(torn, `${reads} reads`).toEqual([])
    await expectConsistent(expect, server, dir, 'two', ids, env)
    const byWatch = submittedIn(watched.stdout)
    figures.two = { processes: 2, jobs: ids.length, submits: server.submits(), submittedBy: [byWatch, ids.length - byWatch], reads, torn: torn.length }
  })
})
