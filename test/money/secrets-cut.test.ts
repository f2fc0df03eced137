/**
 * Issue 9 point 16: an error body is cut to a short snippet for messages; the key must be taken
 * out BEFORE the cut, or a key straddling it leaks its first half. On every route (toapis upload,
 * submit, poll, download; aa generate; openai edit) the fake provider answers an error whose body
 * puts the key across the 200-character cut — at a different offset per route, as is, JSON-escaped,
 * URL-encoded and in `Bearer <key>` form — and the real CLI's stdout and stderr (`--json` and plain
 * `--verbose`) must hold no 8-character piece of the key, while each route's error is reported.
 */
import type { FakeProviderServer } from '@images-edit/fake-provider'
import { describe, expect, it } from 'vitest'
import { type CliResult, parseJsonLines, runCli } from '../helpers.js'
import { Resources, serverEnv } from '../providers/harness.js'

const KEY = 'sk-cut-Q7w9Rt2Lm4Xv8Bn3Kp6Yd1Zf5'
/** Where messages cut an error body (http.ts `snippet`). */
const CUT = 200

/** Every 8-character piece of the key. */
const PIECES = Array.from({ length: KEY.length - 7 }, (_, index) => KEY.slice(index, index + 8))

/** A body whose text puts `form` (the key, in some encoding) across the cut, `before` characters of it ahead of the cut. */
function straddling(route: string, form: string, before: number, wrap: (text: string) => string = (text) => text): string {
  const lead = `route-${route} refused:`
  const padding = '.'.repeat(CUT - before - lead.length)
  return wrap(`${lead}${padding}${form} (end of error)`)
}

const escapedDashes = KEY.replaceAll('-', '\\u002d')
const urlDashes = KEY.replaceAll('-', '%2D')

/** One scripted error per route, each with the key across the cut in another form. */
function script(server: FakeProviderServer): void {
  // Free calls answer 500 once (retried: the retry note quotes the message), then work.
  server.fault('toapis.upload', { kind: 'status', status: 500, retryAfter: 0, body: straddling('upload', KEY, 5) })
  server.fault('toapis.poll', {
    kind: 'status',
    status: 500,
    retryAfter: 0,
    body: straddling('poll', escapedDashes, 12, (text) => JSON.stringify({ detail: text }).replaceAll('\\\\u002d', '\\u002d')),
  })
  server.fault('files.download', {
    kind: 'status',
    status: 500,
    retryAfter: 0,
    body: straddling('download', urlDashes, 20, (text) => `<Error>${text}</Error>`),
  })
  // Paid calls answer 400 (a final refusal: the job fails with the message).
  server.faultOnPrompt('cut toapis submit', { kind: 'status', status: 400, body: straddling('submit', KEY, 1) })
  server.faultOnPrompt('cut aa generate', { kind: 'status', status: 400, body: straddling('generate', `Authorization: Bearer ${KEY}`, 24) })
  server.faultOnPrompt('cut openai edit', { kind: 'status', status: 400, body: straddling('edit', KEY, KEY.length - 1) })
}

const RECIPES = {
  fine: { prompt: 'cut fine toapis', refs: ['refs/a.png'] },
  submit: { prompt: 'cut toapis submit', refs: ['refs/b.jpg'] },
  aaFine: { prompt: 'cut aa fine', refs: ['refs/a.png'], provider: 'aa' },
  generate: { prompt: 'cut aa generate', refs: ['refs/b.jpg'], provider: 'aa' },
  edit: { prompt: 'cut openai edit', refs: ['refs/a.png'], provider: 'openai' },
}
const ROUTES = ['upload', 'poll', 'download', 'submit', 'generate', 'edit']

function leaks(text: string): string[] {
  return PIECES.filter((piece) => text.includes(piece))
}

function expectNoLeak(run: CliResult): void {
  expect(leaks(run.stdout), 'stdout').toEqual([])
  expect(leaks(run.stderr), 'stderr').toEqual([])
}

describe('a key across the cut of an error body never leaks', () => {
  for (const mode of ['--json', '--verbose'] as const) {
    it(`build ${mode}: every route reports its error, and no piece of the key is in stdout or stderr`, { timeout: 180_000 }, async ({ onTestFinished }) => {
      const resources = new Resources()
      onTestFinished(() => resources.release())
      const server = await resources.server({ apiKey: KEY, latencyMs: 20 })
      const dir = await resources.project({ provider: 'toapis', recipes: RECIPES })
      script(server)
      const run = await runCli(['build', mode], { cwd: dir, env: serverEnv(server), timeoutMs: 150_000 })

      expect(run.code, run.stderr).toBe(1)
      expectNoLeak(run)
      // Every scripted error was really answered…
      expect(server.pendingFaults()).toBe(0)
      const output = `${run.stdout}\n${run.stderr}`
      // …and reported, with the part of its body before the key.
      for (const route of ROUTES) expect(output, `the ${route} error is reported`).toContain(`route-${route} refused:`)
      if (mode === '--json') {
        const events = parseJsonLines(run.stdout)
        const failed = events.filter((event) => event.type === 'job:failed').map((event) => String(event.id))
        expect(failed.sort()).toEqual(['edit', 'generate', 'submit'])
      }
    })
  }
})
