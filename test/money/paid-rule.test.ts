/**
 * Issue 9 point 3: a paid call (toapis submit, aa generate, openai edit) is sent again only on the
 * provider's documented not-accepted answers — a 429 rate limit (not OpenAI's 429
 * `insufficient_quota`, a final refusal) and toapis' JSON 503 `rate_limit_unavailable`. Anything
 * else (an HTML gateway page, a bare 503, a 503 with another code, 500/502/504) may have reached
 * the service: exactly one request, the job fails and says it may have been billed. Free stages
 * (upload, poll, download) keep retrying 5xx. Driven through the real CLI against the fake
 * provider, counting paid requests at the server; plus the rule itself as a table.
 */

import { retryFacts } from '@images-edit/core/internal'
import type { Fault, RouteId } from '@images-edit/fake-provider'
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers.js'
import { type Hosted, PAID_ROUTE, Resources, requestsOn, serverEnv } from '../providers/harness.js'

const RECIPES = { hero: { prompt: 'paid rule hero', refs: ['refs/a.png'] } }
const BILLED = /may have[\s\S]{0,80}billed/i

interface PaidCase {
  title: string
  provider: Hosted
  fault: Fault
  /** `retried`: two requests on the paid route, one accepted, exit 0. `stopped`: one request, exit 1, "may have been billed". `refused`: one request, exit 1, a plain refusal. */
  expect: 'retried' | 'stopped' | 'refused'
  message?: RegExp
}

const json503 = (code: string): Fault => ({ kind: 'status', status: 503, retryAfter: 0, body: { error: { code, message: `${code} (test)`, type: code } } })

const CASES: PaidCase[] = [
  // Documented not-accepted answers: sent again, paid once.
  { title: 'toapis JSON 503 rate_limit_unavailable', provider: 'toapis', fault: { kind: 'status', status: 503, retryAfter: 0 }, expect: 'retried' },
  { title: 'toapis 429 rate_limit_exceeded', provider: 'toapis', fault: { kind: 'status', status: 429, retryAfter: 0 }, expect: 'retried' },
  { title: 'toapis 429 as an HTML gateway page', provider: 'toapis', fault: { kind: 'status', status: 429, retryAfter: 0, html: true }, expect: 'retried' },
  { title: 'aa 429', provider: 'aa', fault: { kind: 'status', status: 429, retryAfter: 0 }, expect: 'retried' },
  { title: 'openai 429 rate_limit_exceeded', provider: 'openai', fault: { kind: 'status', status: 429, retryAfter: 0 }, expect: 'retried' },
  // Anything else on a paid call: one request, "may have been billed".
  { title: 'toapis 503 HTML gateway page', provider: 'toapis', fault: { kind: 'status', status: 503, retryAfter: 0, html: true }, expect: 'stopped' },
  { title: 'toapis JSON 503 with another code', provider: 'toapis', fault: json503('no_available_channel'), expect: 'stopped' },
  {
    title: 'toapis 503 rate_limit_unavailable sent as text/html',
    provider: 'toapis',
    fault: {
      kind: 'status',
      status: 503,
      retryAfter: 0,
      body: JSON.stringify({ error: { code: 'rate_limit_unavailable' } }),
      headers: { 'content-type': 'text/html' },
    },
    expect: 'stopped',
  },
  { title: 'toapis bare 503 (empty body)', provider: 'toapis', fault: { kind: 'status', status: 503, retryAfter: 0, body: '' }, expect: 'stopped' },
  { title: 'toapis JSON 500 internal_error', provider: 'toapis', fault: { kind: 'status', status: 500, retryAfter: 0 }, expect: 'stopped' },
  { title: 'aa JSON 503', provider: 'aa', fault: { kind: 'status', status: 503, retryAfter: 0 }, expect: 'stopped' },
  {
    title: 'aa 503 with code rate_limit_unavailable (documented for toapis only)',
    provider: 'aa',
    fault: json503('rate_limit_unavailable'),
    expect: 'stopped',
  },
  { title: 'aa 502 HTML gateway page', provider: 'aa', fault: { kind: 'status', status: 502, retryAfter: 0, html: true }, expect: 'stopped' },
  { title: 'openai JSON 503 server_error', provider: 'openai', fault: { kind: 'status', status: 503, retryAfter: 0 }, expect: 'stopped' },
  { title: 'openai 503 HTML gateway page', provider: 'openai', fault: { kind: 'status', status: 503, retryAfter: 0, html: true }, expect: 'stopped' },
  { title: 'openai JSON 504', provider: 'openai', fault: { kind: 'status', status: 504, retryAfter: 0 }, expect: 'stopped' },
  // A final refusal: not retried, and not "may have been billed" either.
  {
    title: 'openai 429 insufficient_quota',
    provider: 'openai',
    fault: {
      kind: 'status',
      status: 429,
      retryAfter: 0,
      body: { error: { message: 'You exceeded your current quota.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } },
    },
    expect: 'refused',
    message: /exceeded your current quota/,
  },
]

describe('a paid call is retried only on a documented not-accepted answer (real CLI, fake provider)', () => {
  for (const item of CASES) {
    it(`${item.title} → ${item.expect}`, { timeout: 120_000 }, async ({ onTestFinished }) => {
      const resources = new Resources()
      onTestFinished(() => resources.release())
      const server = await resources.server({ latencyMs: 20 })
      const dir = await resources.project({ provider: item.provider, recipes: RECIPES })
      const route: RouteId = PAID_ROUTE[item.provider]
      server.fault(route, item.fault)

      const run = await runCli(['build'], { cwd: dir, env: serverEnv(server), timeoutMs: 100_000 })
      const output = `${run.stdout}\n${run.stderr}`

      expect(server.pendingFaults(), 'the fault was answered').toBe(0)
      if (item.expect === 'retried') {
        expect(run.code, output).toBe(0)
        expect(requestsOn(server, route), 'requests on the paid route').toHaveLength(2)
        expect(server.submits('paid rule hero'), 'accepted paid calls').toBe(1)
      } else {
        expect(run.code, output).toBe(1)
        expect(requestsOn(server, route), 'requests on the paid route: never repeated').toHaveLength(1)
        expect(server.submits(), 'accepted paid calls').toBe(0)
        expect(output).toMatch(new RegExp(`\\b${item.provider}\\b`))
        if (item.expect === 'stopped') expect(output).toMatch(BILLED)
        else expect(output).not.toMatch(BILLED)
        if (item.message) expect(output).toMatch(item.message)
      }
    })
  }

  it('free stages still retry a 5xx: an HTML 503 on the toapis upload, a JSON 503 with another code on the poll', { timeout: 120_000 }, async ({
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server({ latencyMs: 20 })
    const dir = await resources.project({ provider: 'toapis', recipes: RECIPES })
    server.fault('toapis.upload', { kind: 'status', status: 503, retryAfter: 0, html: true })
    server.fault('toapis.poll', json503('no_available_channel'))
    const run = await runCli(['build'], { cwd: dir, env: serverEnv(server), timeoutMs: 100_000 })
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0)
    expect(server.pendingFaults()).toBe(0)
    expect(requestsOn(server, 'toapis.upload').length).toBeGreaterThanOrEqual(2)
    expect(requestsOn(server, 'toapis.submit')).toHaveLength(1)
    expect(server.submits()).toBe(1)
  })
})

describe('the paid rule (paid-rule.ts)', () => {
  const json = { 'content-type': 'application/json; charset=utf-8' }
  const html = { 'content-type': 'text/html' }
  const rows: [string, Parameters<typeof retryFacts>[0], { retryable: boolean; notAccepted: boolean }][] = [
    [
      'toapis submit JSON 503 rate_limit_unavailable',
      { provider: 'toapis', stage: 'submit', status: 503, code: 'rate_limit_unavailable', json: true, headers: json },
      { retryable: true, notAccepted: true },
    ],
    [
      'toapis submit HTML 503',
      { provider: 'toapis', stage: 'submit', status: 503, code: undefined, json: false, headers: html },
      { retryable: true, notAccepted: false },
    ],
    [
      'toapis submit 503 rate_limit_unavailable with an HTML content type',
      { provider: 'toapis', stage: 'submit', status: 503, code: 'rate_limit_unavailable', json: true, headers: html },
      { retryable: true, notAccepted: false },
    ],
    [
      'toapis submit JSON 503 other code',
      { provider: 'toapis', stage: 'submit', status: 503, code: 'no_available_channel', json: true, headers: json },
      { retryable: true, notAccepted: false },
    ],
    [
      'aa generate JSON 503 rate_limit_unavailable',
      { provider: 'aa', stage: 'generate', status: 503, code: 'rate_limit_unavailable', json: true, headers: json },
      { retryable: true, notAccepted: false },
    ],
    [
      'openai generate 429',
      { provider: 'openai', stage: 'generate', status: 429, code: 'rate_limit_exceeded', json: true, headers: json },
      { retryable: true, notAccepted: true },
    ],
    [
      'openai generate 429 insufficient_quota',
      { provider: 'openai', stage: 'generate', status: 429, code: 'insufficient_quota', json: true, headers: json },
      { retryable: false, notAccepted: false },
    ],
    ['toapis submit 502 HTML', { provider: 'toapis', stage: 'submit', status: 502, json: false, headers: html }, { retryable: true, notAccepted: false }],
    ['toapis poll 503 HTML (free)', { provider: 'toapis', stage: 'poll', status: 503, json: false, headers: html }, { retryable: true, notAccepted: false }],
    ['toapis upload 400 (free)', { provider: 'toapis', stage: 'upload', status: 400, json: true, headers: json }, { retryable: false, notAccepted: false }],
  ]
  for (const [title, answer, expected] of rows) {
    it(title, () => {
      const facts = retryFacts(answer)
      expect({ retryable: facts.retryable, notAccepted: facts.notAccepted }).toEqual(expected)
    })
  }
})
