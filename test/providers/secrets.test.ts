/**
 * API keys never leave the process: not in stdout, stderr, the store, the lock, the outputs or
 * their names — even when a provider's error body echoes the Authorization header back.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import type { FakeProviderServer } from '@images-edit/fake-provider'
import { describe, type ExpectStatic, it } from 'vitest'
import { type CliResult, parseJsonLines, runCli } from '../helpers.js'
import { Resources, serverEnv } from './harness.js'

const KEY = 'sk-test-SECRET-1234567890'
/** Parts of the key that must not appear either (a message cut in the middle of the key). */
const FRAGMENTS = [KEY, 'SECRET-1234567890', 'sk-test-SECRET']

const RECIPES = {
  fine: { prompt: 'secret fine poster', refs: ['refs/a.png'] },
  submit400: { prompt: 'secret toapis submit echo', refs: ['refs/b.jpg'] },
  aaText: { prompt: 'secret aa text echo', refs: ['refs/b.jpg'], provider: 'aa' },
  openai401: { prompt: 'secret openai echo', refs: ['refs/a.png'], provider: 'openai' },
}
const FAILING = ['aaText', 'openai401', 'submit400']

/** Error answers that repeat the caller's key, in each protocol's shape (and some that are not). */
function scriptEchoes(server: FakeProviderServer): void {
  const echo = `Authorization: Bearer ${KEY}`
  // Transient, retried: the retry notes quote these messages.
  server.fault('toapis.submit', { kind: 'status', status: 429, retryAfter: 0, body: { error: { code: 'rate_limit_exceeded', message: `slow down, ${echo}` } } })
  server.fault('toapis.poll', { kind: 'status', status: 502, body: `<html><head><title>502 Bad Gateway for ${KEY}</title></head><body>${echo}</body></html>` })
  server.fault('files.download', { kind: 'status', status: 503, retryAfter: 0, body: `<Error><Message>denied ${echo}</Message></Error>` })
  // Final: the job fails with the provider's message.
  server.faultOnPrompt('secret toapis submit echo', {
    kind: 'status',
    status: 400,
    body: { error: { code: 'invalid_request', message: `bad request from ${echo}`, param: KEY } },
  })
  server.faultOnPrompt('secret aa text echo', { kind: 'status', status: 500, body: `upstream said: ${echo}` })
  server.faultOnPrompt('secret openai echo', {
    kind: 'status',
    status: 401,
    body: { error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
  })
}

/** Every file under `dir`: its path and its text. */
async function everyFile(dir: string): Promise<{ path: string; text: string }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  const files = entries.filter((entry) => entry.isFile())
  return Promise.all(
    files.map(async (entry) => {
      const path = join(entry.parentPath, entry.name)
      return { path: relative(dir, path), text: (await readFile(path)).toString('latin1') }
    }),
  )
}

function leaks(text: string): string[] {
  return FRAGMENTS.filter((fragment) => text.includes(fragment))
}

/** Checks every stream and every file of the project for the key. */
async function expectNoLeak(expect: ExpectStatic, dir: string, runs: readonly CliResult[]): Promise<void> {
  for (const [index, run] of runs.entries()) {
    expect(leaks(run.stdout), `stdout of run ${index + 1}`).toEqual([])
    expect(leaks(run.stderr), `stderr of run ${index + 1}`).toEqual([])
  }
  const files = await everyFile(dir)
  expect(files.some((file) => file.path.startsWith('.images-edit/'))).toBe(true)
  for (const file of files) {
    expect(leaks(file.path), `name of ${file.path}`).toEqual([])
    expect(leaks(file.text), `content of ${file.path}`).toEqual([])
  }
}

describe.concurrent('the API key never appears', () => {
  for (const mode of ['--json', 'plain --verbose'] as const) {
    it(`build ${mode}, with error bodies that echo the key: not in stdout, stderr, .images-edit/, the lock, outputs or their names`, async ({
      expect,
      onTestFinished,
    }) => {
      const resources = new Resources()
      onTestFinished(() => resources.release())
      const server = await resources.server({ apiKey: KEY, latencyMs: 20 })
      const dir = await resources.project({ provider: 'toapis', recipes: RECIPES })
      scriptEchoes(server)
      const env = serverEnv(server)
      const args = mode === '--json' ? ['build', '--json'] : ['build', '--verbose']

      const result = await runCli(args, { cwd: dir, env })
      // The echoes really happened: exactly the scripted jobs failed, the rest finished, every queued fault was used.
      expect(result.code, result.stderr).toBe(1)
      expect(server.pendingFaults()).toBe(0)
      expect(server.requests.filter((request) => request.fault === 'status').length).toBeGreaterThanOrEqual(6)
      if (mode === '--json') {
        const events = parseJsonLines(result.stdout)
        const failed = events.filter((event) => event.type === 'job:failed').map((event) => String(event.id))
        expect(failed.sort()).toEqual(FAILING)
        expect(events.filter((event) => event.type === 'job:done').map((event) => event.id)).toEqual(['fine'])
        expect(events.some((event) => event.type === 'job:progress' && typeof event.note === 'string' && event.note.startsWith('retry'))).toBe(true)
      } else {
        expect(result.stdout).toMatch(/✓ fine/)
        for (const id of FAILING) expect(result.stdout).toMatch(new RegExp(`✗ ${id} failed`))
        expect(result.stderr).toMatch(/failed:/)
      }

      // A second run retries the failed jobs against the same echoing answers.
      const again = await runCli(args, { cwd: dir, env })
      expect(again.code).toBe(1)

      const paths = (await everyFile(dir)).map((file) => file.path)
      expect(paths).toContain('images.edit.lock')
      expect(paths.some((path) => path.startsWith('.images-edit/records/'))).toBe(true)
      expect(paths.some((path) => path.startsWith('out/'))).toBe(true)
      await expectNoLeak(expect, dir, [result, again])
    })
  }

  it('an error inside an HTTP 200 answer that echoes the key (aa `code` ≠ 0, toapis upload `success: false`): not in any output', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server({ apiKey: KEY, latencyMs: 20 })
    const dir = await resources.project({
      provider: 'toapis',
      recipes: {
        upload: { prompt: 'secret upload echo', refs: ['refs/a.png'] },
        aaCode: { prompt: 'secret aa code echo', refs: ['refs/b.jpg'], provider: 'aa' },
      },
    })
    server.fault('toapis.upload', { kind: 'status', status: 200, body: { success: false, message: `token ${KEY} is not allowed to upload` } })
    server.faultOnPrompt('secret aa code echo', { kind: 'status', status: 200, body: { code: 401, message: `invalid key ${KEY}`, data: null } })
    const env = serverEnv(server)
    const json = await runCli(['build', '--json'], { cwd: dir, env })
    expect(json.code, json.stderr).toBe(1)
    expect(server.pendingFaults()).toBe(0)
    const failed = parseJsonLines(json.stdout).filter((event) => event.type === 'job:failed')
    expect(failed.map((event) => String(event.id)).sort()).toEqual(['aaCode', 'upload'])
    server.fault('toapis.upload', { kind: 'status', status: 200, body: { success: false, message: `token ${KEY} is not allowed to upload` } })
    const plain = await runCli(['build'], { cwd: dir, env })
    expect(plain.code, plain.stderr).toBe(1)
    expect(server.pendingFaults()).toBe(0)
    await expectNoLeak(expect, dir, [json, plain])
  })
})
