/**
 * Issue 9 point 19: a server that drips bytes never trips undici's inactivity timeouts (something
 * always arrives), so a download or a JSON answer dripping one byte at a time never ended. Every
 * body now has a deadline from a minimum rate after a grace of the provider's `timeoutMs`
 * (http.ts `MIN_BYTES_PER_SECOND`). A small toapis-shaped server on 127.0.0.1 drips results (with
 * and without a Content-Length, once or on every attempt) and one poll answer; the real CLI runs
 * with `timeoutMs: 2000` and each drip sends a byte every 400 ms, well inside that inactivity
 * timeout. A drip that stops once is retried and the job finishes; one that never stops fails its
 * job with a message naming the host and the slowness; every dripping connection is hung up by the
 * client; each task is submitted once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exists, imageInfo, makeImage, parseJsonLines, runCli } from '../helpers.js'
import { Resources, until } from '../providers/harness.js'

const KEY = 'sk-drip-test-0123456789'
const DRIP_EVERY_MS = 400

/** How the result of a scenario's task (or its first poll) is served. */
type Serving = 'normal' | 'drip-once-declared' | 'drip-always-chunked' | 'drip-always-declared'
interface Scenario {
  result: Serving
  /** The first poll answer drips. */
  pollDrips?: boolean
  /** What the job's failure must say; undefined: the job succeeds. */
  failure?: RegExp
}

const TOO_SLOW = /the download of a toapis result from 127\.0\.0\.1:\d+ was too slow and was abandoned/
const SCENARIOS: Record<string, Scenario> = {
  control: { result: 'normal' },
  dripOnce: { result: 'drip-once-declared' },
  dripChunked: { result: 'drip-always-chunked', failure: TOO_SLOW },
  dripDeclared: { result: 'drip-always-declared', failure: TOO_SLOW },
  pollDrip: { result: 'normal', pollDrips: true },
}

let server: Server
let base = ''
let image: Buffer
const tasks = new Map<string, string>()
const polled = new Set<string>()
const downloads = new Map<string, number>()
const drips = { started: 0, open: 0 }

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

/** Sends `bytes` one byte every {@link DRIP_EVERY_MS}, until done or the client hangs up. */
function drip(res: ServerResponse, bytes: Buffer, headers: Record<string, string | number>): void {
  res.writeHead(200, headers)
  drips.started++
  drips.open++
  let sent = 0
  const timer = setInterval(() => {
    if (res.destroyed || sent >= bytes.length) return
    res.write(bytes.subarray(sent, sent + 1))
    sent++
  }, DRIP_EVERY_MS)
  res.on('close', () => {
    clearInterval(timer)
    drips.open--
  })
}

function scenarioOf(taskId: string): [string, Scenario] | undefined {
  const id = (tasks.get(taskId) ?? '').replace('drip scenario ', '')
  const scenario = SCENARIOS[id]
  return scenario ? [id, scenario] : undefined
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', base)
  if (req.method === 'POST' && url.pathname === '/v1/uploads/images') {
    await readBody(req)
    return json(res, 200, { success: true, data: { url: `https://uploads.example/${tasks.size}.png` } })
  }
  if (req.method === 'POST' && url.pathname === '/v1/images/generations') {
    const body = JSON.parse((await readBody(req)).toString('utf8')) as { prompt: string }
    const id = `tsk_${tasks.size + 1}`
    tasks.set(id, body.prompt)
    return json(res, 200, { id, status: 'queued', progress: 0 })
  }
  const poll = /^\/v1\/images\/generations\/(.+)$/.exec(url.pathname)
  if (req.method === 'GET' && poll) {
    const taskId = poll[1] ?? ''
    const found = scenarioOf(taskId)
    if (!found) return json(res, 404, { error: { code: 'task_not_exist', message: 'no such task' } })
    const answer = Buffer.from(JSON.stringify({ id: taskId, status: 'completed', progress: 100, result: { data: [{ url: `${base}/files/${taskId}.png` }] } }))
    if (found[1].pollDrips && !polled.has(taskId)) {
      polled.add(taskId)
      // A long JSON answer (leading whitespace is valid JSON) that drips: 1 MiB at a byte every 400 ms.
      const padded = Buffer.concat([Buffer.alloc(1024 * 1024 - answer.length, ' '), answer])
      return drip(res, padded, { 'content-type': 'application/json', 'content-length': padded.length })
    }
    return json(res, 200, JSON.parse(answer.toString('utf8')))
  }
  const file = /^\/files\/(.+)\.png$/.exec(url.pathname)
  const found = file ? scenarioOf(file[1] ?? '') : undefined
  if (req.method === 'GET' && found) {
    const [id, scenario] = found
    const attempt = (downloads.get(id) ?? 0) + 1
    downloads.set(id, attempt)
    if (scenario.result === 'drip-always-chunked') return drip(res, Buffer.concat([image, Buffer.alloc(64 * 1024 * 1024)]), { 'content-type': 'image/png' })
    if (scenario.result === 'drip-always-declared' || (scenario.result === 'drip-once-declared' && attempt === 1)) {
      return drip(res, image, { 'content-type': 'image/png', 'content-length': image.length })
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length })
    return void res.end(image)
  }
  json(res, 404, { error: { message: `no route ${url.pathname}` } })
}

const resources = new Resources()

beforeAll(async () => {
  image = await makeImage({ width: 1024, height: 1024 })
  server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => res.destroy(error as Error))
  })
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((done) => server.close(done))
  await resources.release()
})

describe('a body that drips bytes has a deadline', () => {
  it('a dripping download or poll answer is abandoned and retried (free); one that drips on every attempt fails its job naming the host and the slowness', {
    timeout: 240_000,
  }, async () => {
    const recipes = Object.fromEntries(
      Object.keys(SCENARIOS).map((id, index) => [id, { prompt: `drip scenario ${id}`, refs: [index % 2 ? 'refs/a.png' : 'refs/b.jpg'] }]),
    )
    const dir = await resources.project({
      provider: 'toapis',
      recipes,
      settings: { pollIntervalMs: 50, timeoutMs: 2000, taskTimeoutMs: 200_000, concurrency: 10 },
    })
    const run = await runCli(['build', '--json'], {
      cwd: dir,
      env: { TOAPIS_API_KEY: KEY, IMAGES_EDIT_TOAPIS_BASE_URL: `${base}/v1` },
      timeoutMs: 200_000,
    })
    expect(run.code, run.stderr).toBe(1)
    const events = parseJsonLines(run.stdout)
    const failed = new Map(
      events.filter((event) => event.type === 'job:failed').map((event) => [String(event.id), (event.error as { message: string }).message]),
    )
    const done = events.filter((event) => event.type === 'job:done').map((event) => String(event.id))
    const notes = events.filter((event) => event.type === 'job:progress' && typeof event.note === 'string').map((event) => `${event.id}: ${event.note}`)

    expect(done.sort()).toEqual(['control', 'dripOnce', 'pollDrip'])
    for (const id of done) expect(await imageInfo(join(dir, `out/${id}.png`)), id).toEqual({ width: 1024, height: 1024, format: 'png' })
    for (const [id, scenario] of Object.entries(SCENARIOS)) {
      if (!scenario.failure) continue
      expect(failed.get(id), `${id} fails`).toMatch(scenario.failure)
      expect(failed.get(id), `${id} says the minimum rate`).toMatch(/under the minimum of 16 KiB\/s/)
      expect(await exists(join(dir, `out/${id}.png`)), `${id}: no output`).toBe(false)
      // Free downloads are retried, a bounded number of times.
      expect(downloads.get(id) ?? 0, `${id}: attempts`).toBeGreaterThan(1)
      expect(downloads.get(id) ?? 0, `${id}: attempts`).toBeLessThanOrEqual(6)
    }
    // The drips that stopped once were abandoned with a note that says why, then retried.
    expect(
      notes.some((note) => note.startsWith('dripOnce: retry') && TOO_SLOW.test(note)),
      notes.join('\n'),
    ).toBe(true)
    expect(
      notes.some((note) => note.startsWith('pollDrip: retry') && /the answer of toapis to poll \(127\.0\.0\.1:\d+\) was too slow/.test(note)),
      notes.join('\n'),
    ).toBe(true)
    expect(downloads.get('dripOnce')).toBe(2)
    // Every dripping connection was hung up by the client; nothing was submitted twice.
    expect(drips.started).toBeGreaterThanOrEqual(2 + 2 + 1 + 1)
    await until(() => drips.open === 0, 20_000, 'every dripping connection closed')
    expect(tasks.size).toBe(Object.keys(SCENARIOS).length)
  })
})
