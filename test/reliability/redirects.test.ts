/**
 * Result downloads follow no redirect and are size-capped. A small toapis-shaped server on
 * 127.0.0.1 (upload, submit, poll) answers each task with a result URL of its own choosing:
 * redirects to http, https and file: targets, result URLs that are not https, a declared length
 * over the cap and an endless body. The real CLI (IMAGES_EDIT_TOAPIS_BASE_URL pointing at the
 * server) must fail exactly those jobs with a message naming the cause, never request a redirect
 * target, write no output for them, and finish the control job.
 *
 * Paths and URL refs (`..`, absolute, symlinks, https only, loopback http behind
 * `security.allowLoopbackHttp`): packages/core/src/manifest/paths.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exists, imageInfo, makeImage, parseJsonLines, runCli } from '../helpers.js'
import { Resources } from '../providers/harness.js'

const CAP = 64 * 1024 * 1024
const KEY = 'sk-redirect-test'

interface Scenario {
  /** Path on our server the task's result URL points at, or an absolute URL. */
  result: string
  /** What the job's failure message must say; undefined: the job succeeds. */
  failure?: RegExp
  /** Attempts allowed on the result URL (downloads are free and retried on transient errors). */
  maxAttempts?: number
}

const SCENARIOS: Record<string, Scenario> = {
  control: { result: '/files/control.png' },
  redirectHttp: { result: '/redirect/http', failure: /toapis.*HTTP 302/ },
  redirectHttps: { result: '/redirect/https', failure: /toapis.*HTTP 302/ },
  redirectFile: { result: '/redirect/file', failure: /toapis.*HTTP 302/ },
  redirect307: { result: '/redirect/307', failure: /toapis.*HTTP 307/ },
  redirect308: { result: '/redirect/308', failure: /toapis.*HTTP 308/ },
  fileUrl: { result: 'file:///etc/passwd', failure: /toapis returned a result URL that is not https/, maxAttempts: 0 },
  otherHttpOrigin: { result: 'http://127.0.0.2:9/files/control.png', failure: /toapis returned a result URL that is not https/, maxAttempts: 0 },
  declaredTooBig: { result: '/big/declared', failure: new RegExp(`toapis result is ${CAP + 1} bytes, over the ${CAP}-byte cap`), maxAttempts: 1 },
  endless: { result: '/big/endless', failure: new RegExp(`toapis: the answer to download exceeded the ${CAP}-byte cap`) },
}

/** Messages of the failed jobs, by job id (filled by the first test). */
const messages = new Map<string, string>()
const hits = new Map<string, number>()
const streamed = { bytes: 0, responses: 0 }
let server: Server
let base = ''
let image: Buffer
const tasks = new Map<string, string>()

function hit(path: string): void {
  hits.set(path, (hits.get(path) ?? 0) + 1)
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', base)
  hit(url.pathname)
  if (req.method === 'POST' && url.pathname === '/v1/uploads/images') {
    await readBody(req)
    return json(res, 200, { success: true, data: { url: `https://uploads.example/${hits.get(url.pathname)}.png` } })
  }
  if (req.method === 'POST' && url.pathname === '/v1/images/generations') {
    const body = JSON.parse((await readBody(req)).toString('utf8')) as { prompt: string }
    const id = `tsk_${tasks.size + 1}`
    tasks.set(id, body.prompt)
    return json(res, 200, { id, status: 'queued', progress: 0 })
  }
  const poll = /^\/v1\/images\/generations\/(.+)$/.exec(url.pathname)
  if (req.method === 'GET' && poll) {
    const prompt = tasks.get(poll[1] ?? '') ?? ''
    const scenario = SCENARIOS[prompt.replace('redirect scenario ', '')]
    if (!scenario) return json(res, 404, { error: { code: 'task_not_exist', message: 'no such task' } })
    const result = scenario.result.includes(':') ? scenario.result : `${base}${scenario.result}`
    return json(res, 200, { id: poll[1], status: 'completed', progress: 100, result: { data: [{ url: result }] } })
  }
  const port = (server.address() as AddressInfo).port
  const redirects: Record<string, [number, string]> = {
    '/redirect/http': [302, `${base}/files/target-http.png`],
    '/redirect/https': [302, `https://127.0.0.1:${port}/files/target-https.png`],
    '/redirect/file': [302, 'file:///etc/passwd'],
    '/redirect/307': [307, `${base}/files/target-307.png`],
    '/redirect/308': [308, `${base}/files/target-308.png`],
  }
  const redirect = redirects[url.pathname]
  if (redirect) {
    res.writeHead(redirect[0], { location: redirect[1], 'content-length': 0 })
    return void res.end()
  }
  if (url.pathname.startsWith('/files/')) {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length })
    return void res.end(image)
  }
  if (url.pathname === '/big/declared') {
    // Declares one byte over the cap; sends the start of a real image, then waits for the client to give up.
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': CAP + 1 })
    res.write(image.subarray(0, 1024))
    return
  }
  if (url.pathname === '/big/endless') {
    // No length; a real PNG's first bytes, then zeros until the client hangs up (or 4× the cap, a safety stop).
    res.writeHead(200, { 'content-type': 'image/png' })
    streamed.responses++
    const chunk = Buffer.alloc(256 * 1024)
    let sent = 0
    res.write(image.subarray(0, 1024))
    const pump = () => {
      while (!res.destroyed && sent < 4 * CAP) {
        sent += chunk.length
        streamed.bytes += chunk.length
        if (!res.write(chunk)) return void res.once('drain', pump)
      }
      res.end()
    }
    res.on('close', () => res.destroy())
    pump()
    return
  }
  json(res, 404, { error: { message: `no route ${url.pathname}` } })
}

const resources = new Resources()

beforeAll(async () => {
  image = await makeImage({ width: 1024, height: 1024 })
  server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.destroy(error as Error)
    })
  })
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((done) => server.close(done))
  await resources.release()
})

describe('result downloads: no redirects, capped size', () => {
  it('a redirect to http, https or file:, a non-https result URL, or a result over the 64 MiB cap fails that job with the cause; the target is never fetched and no output is written', async () => {
    const recipes = Object.fromEntries(
      Object.keys(SCENARIOS).map((id, index) => [id, { prompt: `redirect scenario ${id}`, refs: [index % 2 ? 'refs/a.png' : 'refs/b.jpg'] }]),
    )
    const dir = await resources.project({ provider: 'toapis', recipes, settings: { pollIntervalMs: 50, concurrency: 10 } })
    const run = await runCli(['build', '--json'], {
      cwd: dir,
      env: { TOAPIS_API_KEY: KEY, IMAGES_EDIT_TOAPIS_BASE_URL: `${base}/v1` },
      timeoutMs: 120_000,
    })
    expect(run.code, run.stderr).toBe(1)
    const events = parseJsonLines(run.stdout)
    const failed = new Map(
      events.filter((event) => event.type === 'job:failed').map((event) => [String(event.id), (event.error as { message: string }).message]),
    )
    for (const [id, message] of failed) messages.set(id, message)
    const done = events.filter((event) => event.type === 'job:done').map((event) => String(event.id))

    // The control job proves the server speaks toapis well enough for a result to land.
    expect(done).toEqual(['control'])
    expect(await imageInfo(join(dir, 'out/control.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })

    for (const [id, scenario] of Object.entries(SCENARIOS)) {
      if (!scenario.failure) continue
      expect(failed.get(id), `${id} fails`).toMatch(scenario.failure)
      expect(await exists(join(dir, `out/${id}.png`)), `${id}: no output`).toBe(false)
      const attempts = scenario.result.includes(':') ? 0 : (hits.get(scenario.result) ?? 0)
      // Free downloads are retried on what looks transient, at most 6 attempts in all (run/retry.ts).
      expect(attempts, `${id}: attempts on the result URL`).toBeLessThanOrEqual(scenario.maxAttempts ?? 6)
      if (scenario.maxAttempts !== 0) expect(attempts, `${id}: the result URL was requested`).toBeGreaterThan(0)
    }
    // No redirect was followed: none of their targets was ever requested.
    for (const target of ['/files/target-http.png', '/files/target-https.png', '/files/target-307.png', '/files/target-308.png']) {
      expect(hits.get(target) ?? 0, target).toBe(0)
    }
    // Each task submitted once; nothing is resubmitted because a download failed.
    expect(tasks.size).toBe(Object.keys(SCENARIOS).length)
    // The endless body was abandoned near the cap on every attempt, not read to the server's safety stop.
    expect(streamed.responses).toBeGreaterThan(0)
    expect(streamed.bytes / streamed.responses).toBeLessThan(CAP + 16 * 1024 * 1024)
    console.log(
      `[reliability figures] redirects: ${JSON.stringify({
        scenarios: Object.keys(SCENARIOS).length,
        attempts: Object.fromEntries(Object.entries(SCENARIOS).map(([id, item]) => [id, item.result.includes(':') ? 0 : (hits.get(item.result) ?? 0)])),
        endlessBytesPerAttempt: Math.round(streamed.bytes / Math.max(1, streamed.responses)),
        messages: Object.fromEntries(failed),
      })}`,
    )
  })

  it('a result URL that is not https is named in the message by its scheme, so the user can tell what was refused', () => {
    expect(messages.get('otherHttpOrigin')).toMatch(/not https: http:\/\/127\.0\.0\.2:9/)
    // file: and data: URLs have the origin "null": the message must show the URL's scheme instead.
    expect(messages.get('fileUrl')).toMatch(/not https: file:/)
  })
})
