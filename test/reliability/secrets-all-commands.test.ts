/**
 * API keys never leave the process, whatever the command. With TOAPIS_API_KEY, AA_API_KEY and
 * OPENAI_API_KEY set to distinctive values — from the environment, and in a second run only from a
 * `.env` file beside the manifest — every command runs with and without errors: init, validate,
 * plan, status, build (plain, --json, --verbose), gc --dry-run, gc and watch, against three fake
 * servers (one per provider, each knowing only its own key) whose error answers echo the key and
 * the Authorization header back. Every stdout and stderr, and every file of the projects (the
 * store, journal, lock, outputs, caches; the `.env` file itself excepted) is searched for every key
 * and for long pieces of it.
 *
 * Build with scripted faults on every route: test/providers/secrets.test.ts.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import type { FakeProviderServer } from '@images-edit/fake-provider'
import { afterAll, describe, type ExpectStatic, it } from 'vitest'
import { type CliResult, makeImage, makeMask, parseJsonLines, type RunningCli, runCli, startCli, tempDir, writeFiles } from '../helpers.js'
import { Resources } from '../providers/harness.js'

const KEYS = {
  toapis: 'sk-toapis-RELKEY-7f3c9a1b2d4e',
  aa: 'aa-RELKEY-55e1d0c4b3a2',
  openai: 'sk-proj-RELKEY-openai-99ab8c7d',
} as const
/** A wrong key the user might have set: it must not appear either. */
const WRONG_TOAPIS = 'sk-toapis-WRONGKEY-0a1b2c3d4e'
const VARIABLE = { toapis: 'TOAPIS_API_KEY', aa: 'AA_API_KEY', openai: 'OPENAI_API_KEY' } as const
const BASE_VARIABLE = { toapis: 'IMAGES_EDIT_TOAPIS_BASE_URL', aa: 'IMAGES_EDIT_AA_BASE_URL', openai: 'IMAGES_EDIT_OPENAI_BASE_URL' } as const
type Hosted = keyof typeof KEYS

/** Each key and long pieces of it (a message cut in the middle of a key still leaks it). */
const FRAGMENTS = [...Object.values(KEYS), WRONG_TOAPIS].flatMap((key) => [key, key.slice(0, 16), key.slice(-16)])

function leaks(text: string): string[] {
  return FRAGMENTS.filter((fragment) => text.includes(fragment))
}

const MANIFEST = (extra = '') => `version: 1
out: out
defaults: { ratio: "1:1", resolution: 1k, quality: high }
providers:
  toapis: { pollIntervalMs: 100, timeoutMs: 2000, taskTimeoutMs: 5000 }
  aa: { timeoutMs: 2000 }
  openai: { timeoutMs: 2000 }
recipes:
  t-fine: { provider: toapis, prompt: secret toapis fine, refs: [refs/a.png], mask: masks/m.png }
  a-fine: { provider: aa, prompt: secret aa fine, refs: [refs/b.jpg] }
  o-fine: { provider: openai, prompt: secret openai fine, refs: [refs/a.png] }
  t-echo: { provider: toapis, prompt: secret toapis echo, refs: [refs/b.jpg] }
  a-echo: { provider: aa, prompt: secret aa echo, refs: [refs/a.png] }
  o-echo: { provider: openai, prompt: secret openai echo, refs: [refs/b.jpg] }
${extra}`

/** Error answers that repeat each caller's key and Authorization header, on paid and free routes. */
function scriptEchoes(servers: Record<Hosted, FakeProviderServer>): void {
  const echo = (key: string) => `Authorization: Bearer ${key}`
  servers.toapis.fault('toapis.upload', { kind: 'status', status: 502, retryAfter: 0, body: `<html><title>502 ${echo(KEYS.toapis)}</title></html>` })
  servers.toapis.fault('toapis.poll', {
    kind: 'status',
    status: 429,
    retryAfter: 0,
    body: { error: { code: 'rate_limit_exceeded', message: `slow, ${echo(KEYS.toapis)}` } },
  })
  servers.toapis.fault('files.download', { kind: 'status', status: 503, retryAfter: 0, body: `<Error>${echo(KEYS.toapis)}</Error>` })
  servers.toapis.faultOnPrompt('secret toapis echo', {
    kind: 'status',
    status: 400,
    body: { error: { code: 'invalid_request', message: `bad request from ${echo(KEYS.toapis)}`, param: KEYS.toapis } },
  })
  servers.aa.fault('files.download', { kind: 'status', status: 500, retryAfter: 0, body: `upstream: ${echo(KEYS.aa)}` })
  servers.aa.faultOnPrompt('secret aa echo', { kind: 'status', status: 200, body: { code: 401, message: `invalid key ${KEYS.aa}`, data: null } })
  servers.openai.faultOnPrompt('secret openai echo', {
    kind: 'status',
    status: 401,
    body: { error: { message: `Incorrect API key provided: ${KEYS.openai}. ${echo(KEYS.openai)}`, type: 'invalid_request_error', code: 'invalid_api_key' } },
  })
}

/** Every file under `dir` but the user's own `.env`: its path and bytes as text. */
async function everyFile(dir: string): Promise<{ path: string; text: string }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return Promise.all(
    entries
      .filter((entry) => entry.isFile() && entry.name !== '.env')
      .map(async (entry) => {
        const path = join(entry.parentPath, entry.name)
        return { path: relative(dir, path), text: (await readFile(path)).toString('latin1') }
      }),
  )
}

const figures: Record<string, { runs: number; files: number; bytes: number; exitCodes: Record<string, number | null> }> = {}
afterAll(() => {
  console.log(`[reliability figures] secrets: ${JSON.stringify(figures)}`)
})

describe.concurrent('no API key in any output, whatever the command', () => {
  const resources = new Resources()
  const running = new Set<RunningCli>()
  afterAll(async () => {
    for (const cli of running) cli.kill('SIGKILL')
    await resources.release()
  })

  for (const source of ['environment', '.env file'] as const) {
    it(`keys from the ${source}: init, validate, plan, status, build (plain, --json, --verbose), gc --dry-run, gc, watch — with and without errors`, {
      timeout: 180_000,
    }, async ({ expect }) => {
      const servers = {
        toapis: await resources.server({ apiKey: KEYS.toapis, latencyMs: 20 }),
        aa: await resources.server({ apiKey: KEYS.aa, latencyMs: 20 }),
        openai: await resources.server({ apiKey: KEYS.openai, latencyMs: 20 }),
      }
      const { dir: home, cleanup } = await tempDir('images-edit-secrets-')
      resources.add(cleanup)
      const project = join(home, 'project')
      const fresh = join(home, 'fresh')
      const dotEnv = Object.entries(VARIABLE)
        .map(([id, name]) => `${name}=${KEYS[id as Hosted]}`)
        .join('\n')
      await writeFiles(project, {
        'refs/a.png': await makeImage(),
        'refs/b.jpg': await makeImage({ format: 'jpeg', color: { r: 20, g: 40, b: 200 } }),
        'masks/m.png': await makeMask(64, 48),
        'images.edit.yaml': MANIFEST(),
        ...(source === '.env file' ? { '.env': `${dotEnv}\n` } : {}),
      })
      await mkdir(fresh, { recursive: true })
      if (source === '.env file') await writeFiles(fresh, { '.env': `${dotEnv}\n` })
      const env: Record<string, string | undefined> = {}
      for (const id of Object.keys(KEYS) as Hosted[]) {
        env[VARIABLE[id]] = source === 'environment' ? KEYS[id] : undefined
        env[BASE_VARIABLE[id]] = servers[id].baseUrls[id]
      }

      const runs: { label: string; result: CliResult }[] = []
      const cli = async (label: string, args: string[], cwd = project, extraEnv: Record<string, string | undefined> = {}) => {
        const result = await runCli(args, { cwd, env: { ...env, ...extraEnv }, timeoutMs: 90_000 })
        runs.push({ label, result })
        return result
      }
      const watchOnce = async (label: string) => {
        const watch = startCli(['watch', '--json'], { cwd: project, env })
        running.add(watch)
        await watch.waitForStdout(/"type":"build:done"|"type":"manifest:error"/, 60_000)
        watch.kill('SIGINT')
        const exit = await watch.exited
        running.delete(watch)
        runs.push({ label, result: { code: exit.code, stdout: watch.stdout(), stderr: watch.stderr() } })
        return { code: exit.code, stdout: watch.stdout() }
      }

      // init (and validate its starter, which names a missing ref: an error).
      expect((await cli('init', ['init'], fresh)).code).toBe(0)
      expect((await cli('validate fresh (error)', ['validate'], fresh)).code).toBe(2)

      // A broken manifest: every read-only command reports it.
      await writeFile(join(project, 'images.edit.yaml'), `${MANIFEST()}  broken: { provider: toapis, prompt: [unclosed, refs: [refs/missing.png] }\n`)
      for (const command of ['validate', 'plan', 'status']) expect((await cli(`${command} (error)`, [command])).code, command).toBe(2)
      expect((await cli('build (error: manifest)', ['build'])).code).toBe(2)
      await writeFile(join(project, 'images.edit.yaml'), MANIFEST())
      for (const command of ['validate', 'plan', 'status']) expect((await cli(command, [command])).code, command).toBe(0)
      expect((await cli('plan --json', ['plan', '--json'])).code).toBe(0)
      expect((await cli('status --json', ['status', '--json'])).code).toBe(0)

      // Builds whose providers echo the key back, in every output mode.
      scriptEchoes(servers)
      const plain = await cli('build (errors)', ['build'])
      expect(plain.code, plain.stderr).toBe(1)
      scriptEchoes(servers)
      const json = await cli('build --json (errors)', ['build', '--json'])
      expect(json.code, json.stderr).toBe(1)
      const failed = parseJsonLines(json.stdout)
        .filter((event) => event.type === 'job:failed')
        .map((event) => String(event.id))
      expect(failed.sort()).toEqual(['a-echo', 'o-echo', 't-echo'])
      // The echoing answers really reached the messages (with the key taken out).
      const messages = parseJsonLines(json.stdout)
        .filter((event) => event.type === 'job:failed')
        .map((event) => (event.error as { message: string }).message)
        .join('\n')
      expect(messages).toMatch(/bad request from Authorization: Bearer/)
      expect(messages).toMatch(/Incorrect API key provided/)
      scriptEchoes(servers)
      expect((await cli('build --verbose (errors)', ['build', '--verbose'])).code).toBe(1)
      expect((await cli('status (errors)', ['status'])).code).toBe(0)

      // A wrong key in the environment, echoed by the service.
      servers.toapis.faultOnPrompt('secret toapis echo', {
        kind: 'status',
        status: 401,
        body: { error: { message: `Incorrect API key provided: ${WRONG_TOAPIS}` } },
      })
      expect((await cli('build (wrong key)', ['build', 't-echo'], project, { TOAPIS_API_KEY: WRONG_TOAPIS })).code).toBe(1)

      // watch, with a failing job, then with every job fine.
      scriptEchoes(servers)
      const watchFailing = await watchOnce('watch (errors)')
      expect(watchFailing.code).toBe(130)
      for (const server of Object.values(servers)) server.reset()
      const watched = await watchOnce('watch')
      expect(watched.code).toBe(130)
      const verbose = await cli('build --verbose', ['build', '--verbose'])
      expect(verbose.code, verbose.stderr).toBe(0)
      expect((await cli('build --json', ['build', '--json'])).code).toBe(0)

      // gc, after two recipes are dropped.
      await writeFile(join(project, 'images.edit.yaml'), MANIFEST().replace(/^ {2}[ao]-echo:.*\n/gm, ''))
      expect((await cli('build (after edit)', ['build'])).code).toBe(0)
      const dry = await cli('gc --dry-run', ['gc', '--dry-run'])
      expect(dry.code).toBe(0)
      expect(dry.stdout).toMatch(/would delete/)
      expect((await cli('gc', ['gc'])).code).toBe(0)
      // gc with a broken manifest is an error too.
      await writeFile(join(project, 'images.edit.yaml'), `${MANIFEST()}  x: [\n`)
      expect((await cli('gc (error)', ['gc'])).code).toBe(2)
      await rm(join(project, 'images.edit.yaml'))
      expect((await cli('status (no manifest)', ['status'])).code).toBe(2)

      await expectNoLeak(expect, [project, fresh], runs)
      const files = [...(await everyFile(project)), ...(await everyFile(fresh))]
      figures[source] = {
        runs: runs.length,
        files: files.length,
        bytes: files.reduce((sum, file) => sum + file.text.length, 0),
        exitCodes: Object.fromEntries(runs.map(({ label, result }) => [label, result.code])),
      }
    })
  }
})

async function expectNoLeak(expect: ExpectStatic, dirs: readonly string[], runs: readonly { label: string; result: CliResult }[]): Promise<void> {
  for (const { label, result } of runs) {
    expect(leaks(result.stdout), `stdout of ${label}`).toEqual([])
    expect(leaks(result.stderr), `stderr of ${label}`).toEqual([])
  }
  for (const dir of dirs) {
    const files = await everyFile(dir)
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) {
      expect(leaks(file.path), `name of ${file.path}`).toEqual([])
      expect(leaks(file.text), `content of ${file.path}`).toEqual([])
    }
  }
  // The runs really touched the store, the lock and outputs.
  const project = await everyFile(dirs[0] ?? '')
  for (const prefix of ['.images-edit/records/', '.images-edit/objects/', 'out/'])
    expect(
      project.some((file) => file.path.startsWith(prefix)),
      prefix,
    ).toBe(true)
}
