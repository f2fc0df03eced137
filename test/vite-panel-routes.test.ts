/**
 * The dev panel's review routes against a real Vite dev server, from Node (no browser): take images
 * are served by sha256 only when a listed take names them; actions act only on same-origin JSON
 * POSTs; pick and new take answer with what the user must know (the cost before a take, why one
 * is refused). The click path in Chromium is test/vite-review.test.ts.
 */
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { openProject } from '@images-edit/core'
import { createServer, type Plugin } from 'vite'
import imagesEdit, { type ImagesEditPluginApi } from 'vite-plugin-images-edit'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, readLockFile, tempDir, writeFiles } from './helpers.js'

/** Waits for the server and the page, which answer within seconds, not vitest's default second. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 15_000 })

const manifest = (recipe: string, top = '') => `version: 1
out: out
${top}defaults: { provider: local, format: png }
prices: { aa: { "gpt-image-1.5": 0.25 } }
recipes:
  shot:
    prompt: a poster in three candidates
    refs: [refs/city.png]
    ratio: "1:1"
    candidates: 3
${recipe}`

interface Answer {
  status: number
  body: Record<string, unknown>
}

describe('vite dev: the panel review routes', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function start(options: { frozen?: boolean; extra?: string; top?: string; env?: NodeJS.ProcessEnv; allowedHosts?: true } = {}) {
    const { dir, cleanup } = await tempDir('images-edit-panel-routes-')
    cleanups.push(cleanup)
    await writeFiles(dir, { 'images.edit.yaml': manifest(options.extra ?? '', options.top), 'refs/city.png': await makeImage({ width: 48, height: 48 }) })
    if (options.frozen) {
      // A frozen server only serves what was built: build it first, where generating is allowed.
      const project = await openProject({ manifest: join(dir, 'images.edit.yaml') })
      await project.build({ frozen: false })
      await project.close()
    }
    const server = await createServer({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [imagesEdit({ frozen: options.frozen ?? false, env: options.env ?? { CI: undefined } })],
      server: { port: 0, host: '127.0.0.1', ...(options.allowedHosts ? { allowedHosts: true } : {}) },
    })
    cleanups.push(() => server.close())
    await server.listen()
    const api = (server.config.plugins.find((plugin) => plugin.name === 'images-edit') as Plugin<ImagesEditPluginApi>).api as ImagesEditPluginApi
    await api.idle()
    const base = new URL('/__images-edit/', server.resolvedUrls?.local[0]).href
    const host = new URL(base).host
    const post = async (route: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
      const response = await fetch(base + route, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: `http://${host}`, ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    /** The panel's state once its takes are listed. */
    const state = async () => {
      await poll(
        async () => ((await (await fetch(`${base}state.json`)).json()) as PanelStateShape).recipes[0]?.jobs[0]?.review?.takes.length ?? 0,
      ).toBeGreaterThan(0)
      return (await (await fetch(`${base}state.json`)).json()) as PanelStateShape
    }
    return { dir, base, post, state, api }
  }

  it('serves the images of listed takes by sha256, verified, and nothing else of the store or the project', async () => {
    const { dir, base, state } = await start()
    const candidates = (await state()).recipes[0]?.jobs[0]?.review?.takes[0]?.candidates ?? []
    expect(candidates).toHaveLength(3)
    expect(new Set(candidates.map((candidate) => candidate.sha256)).size).toBe(3)
    for (const candidate of candidates) {
      const response = await fetch(new URL(candidate.src, base))
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('image/png')
      expect(
        createHash('sha256')
          .update(Buffer.from(await response.arrayBuffer()))
          .digest('hex'),
      ).toBe(candidate.sha256)
    }

    // An object the store holds that no take lists (the ref, stored by hand here), a sha256 of
    // nothing, and paths: all refused.
    const project = await openProject({ manifest: join(dir, 'images.edit.yaml') })
    const ref = await readFile(join(dir, 'refs/city.png'))
    await project.store.putObject(ref)
    await project.close()
    const refSha = createHash('sha256').update(ref).digest('hex')
    for (const rest of [refSha, 'f'.repeat(64), '..%2Fimages.edit.yaml', '..%2F..%2Frefs%2Fcity.png', `${candidates[0]?.sha256}%2F..%2F..`]) {
      const response = await fetch(`${base}take-image/${rest}`)
      expect(response.status, rest).toBe(404)
      expect(await response.text()).toMatch(/not an image of a take/)
    }
  })

  it('acts only on same-origin JSON POSTs', async () => {
    const { dir, base, post } = await start()
    const pick = { job: 'shot', take: 1, images: [3] }
    expect((await fetch(`${base}pick`)).status).toBe(405)
    const form = await post('pick', 'job=shot&take=1', { 'Content-Type': 'application/x-www-form-urlencoded' })
    expect(form.status).toBe(415)
    const text = await post('pick', JSON.stringify(pick), { 'Content-Type': 'text/plain' })
    expect(text.status).toBe(415)
    const foreign = await post('pick', pick, { Origin: 'http://evil.example' })
    expect(foreign).toMatchObject({ status: 403, body: { error: expect.stringMatching(/refused a request from http:\/\/evil\.example/) } })
    const crossSite = await post('pick', pick, { 'Sec-Fetch-Site': 'cross-site' })
    expect(crossSite).toMatchObject({ status: 403, body: { error: expect.stringMatching(/refused a cross-site request/) } })
    const nullOrigin = await post('pick', pick, { Origin: 'null' })
    expect(nullOrigin.status).toBe(403)
    expect((await readLockFile(dir)).jobs.shot?.outputs[0]).not.toHaveProperty('image', 3)

    const accepted = await post('pick', pick)
    expect(accepted.status).toBe(200)
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toMatch(/- path: out\/shot.png\n\s+image: 3\n/)
  })

  it('acts only for this machine: a LAN address, a tunnel or a rebound name in Host is refused, also with allowedHosts: true; the panel cannot be framed', async () => {
    // allowedHosts: true turns Vite's own host check off: what is refused here is refused by ours.
    const { dir, base } = await start({ allowedHosts: true })
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    const { port } = new URL(base)
    for (const host of [`192.168.1.23:${port}`, 'abc-def.trycloudflare.com', `rebound.example:${port}`]) {
      for (const route of ['pick', 'take/quote', 'take']) {
        const answer = await postAs(`${base}${route}`, host, { job: 'shot', take: 1, images: [2] })
        expect(answer.status, `${host} ${route}`).toBe(403)
        expect(answer.body, `${host} ${route}`).toMatch(/act only for this machine's own localhost page/)
      }
    }
    expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toBe(lock)
    const page = await fetch(base)
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    expect(page.headers.get('content-security-policy')).toBe("frame-ancestors 'none'")
  })

  it('no new take while the manifest on disk is broken (the session still shows the last good one)', async () => {
    const { dir, post } = await start()
    const manifestPath = join(dir, 'images.edit.yaml')
    const good = await readFile(manifestPath, 'utf8')
    await writeFile(manifestPath, `${good}\n  broken: [\n`)
    const quote = await post('take/quote', { job: 'shot' })
    expect(quote).toMatchObject({ status: 400, body: { error: expect.stringMatching(/images\.edit\.yaml has 1 error right now; fix it before a new take/) } })
    await writeFile(manifestPath, good)
    expect((await post('take/quote', { job: 'shot' })).status).toBe(200)
  })

  it('pick says what is wrong with a request; a new take is quoted first and starts only with that quote', async () => {
    const { post, state, api } = await start()
    expect(await post('pick', { job: 'shot', take: 4 })).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/shot has no take 4 here; its takes: 1/) },
    })
    expect(await post('pick', { job: 'shot', take: 1, images: [7] })).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/has no image 7 here; it has 1, 2, 3/) },
    })
    expect(await post('pick', { job: 'nope', take: 1 })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/no job or recipe nope/) } })
    expect(await post('pick', { job: 'shot', take: 'one' })).toMatchObject({ status: 400, body: { error: '"take" must be a take number (1, 2, …)' } })
    expect(await post('pick', '[1')).toMatchObject({ status: 400, body: { error: 'the body is not JSON' } })

    const quote = await post('take/quote', { job: 'shot' })
    expect(quote).toMatchObject({ status: 200, body: { job: 'shot', take: 2, newImages: 3, paidImages: 0, text: { head: '3 new images on local: free' } } })
    const stale = await post('take', { job: 'shot', token: 'not the quote' })
    expect(stale).toMatchObject({ status: 400, body: { error: expect.stringMatching(/changed since it was shown: now 3 new images on local: free/) } })
    const started = await post('take', { job: 'shot', token: quote.body.token })
    expect(started).toMatchObject({ status: 202, body: { started: true } })
    await api.idle()
    await poll(async () => (await state()).recipes[0]?.jobs[0]?.review?.takes.map((take) => [take.take, take.current, take.candidates.length])).toEqual([
      [1, false, 3],
      [2, true, 3],
    ])
  })

  it('a new take is refused while an output was edited by hand: it would overwrite it', async () => {
    const { dir, post } = await start()
    await writeFile(join(dir, 'out/shot.png'), 'my own retouch')
    const refused = await post('take/quote', { job: 'shot' })
    expect(refused).toMatchObject({
      status: 400,
      body: {
        error:
          'out/shot.png differs from what images-edit wrote (edited by hand?), and a new take would overwrite it. Move it away first, or run images-edit build --force shot.',
      },
    })
    expect(await readFile(join(dir, 'out/shot.png'), 'utf8')).toBe('my own retouch')
  })

  it('quotes a paid take in money from the price table, and says when no price is known', async () => {
    const extra = `  paid:
    provider: aa
    prompt: a paid poster
    refs: [refs/city.png]
    candidates: 3
  unpriced:
    provider: openai
    prompt: an unpriced poster
    refs: [refs/city.png]
    model: some-future-model
`
    // No keys: the paid jobs fail to build, which a quote does not need.
    const { post } = await start({ extra, env: { CI: undefined, AA_API_KEY: undefined, OPENAI_API_KEY: undefined } })
    const paid = await post('take/quote', { job: 'paid' })
    expect(paid).toMatchObject({
      status: 200,
      body: { paidImages: 3, cost: { amount: 0.75, currency: 'USD', complete: true }, text: { head: '3 new paid images ≈ $0.75' } },
    })
    expect((paid.body.text as { note: string }).note).toMatch(/output images only/)
    const unpriced = await post('take/quote', { job: 'unpriced' })
    expect(unpriced).toMatchObject({ status: 200, body: { paidImages: 1, cost: { complete: false }, text: { head: '1 new paid image with no known price' } } })
    expect((unpriced.body.text as { unpriced: string[] }).unpriced[0]).toMatch(/no known price.*set prices\.openai/)
  })

  it('a new take over budget.maxSpend is refused before any call, with the estimate', async () => {
    const extra = `  paid:
    provider: aa
    prompt: a paid poster
    refs: [refs/city.png]
    candidates: 3
`
    const { post, api } = await start({ extra, top: 'budget: { maxSpend: 0.5 }\n', env: { CI: undefined, AA_API_KEY: 'never-used' } })
    const view = () => api.dev?.devSession?.job('paid')
    const before = view()
    const quote = await post('take/quote', { job: 'paid' })
    expect(quote).toMatchObject({ status: 200, body: { text: { head: '3 new paid images ≈ $0.75' } } })
    const refused = await post('take', { job: 'paid', token: quote.body.token })
    expect(refused).toMatchObject({
      status: 409,
      body: { code: 'BUDGET', error: expect.stringMatching(/^this run would cost ≈ \$0\.75 for 3 paid images .*over budget\.maxSpend \$0\.50/) },
    })
    await api.idle()
    expect(api.dev?.devSession?.inFlight()).toEqual([])
    expect((await api.dev?.devSession?.takes(['paid']))?.[0]?.takes).toEqual([])
    // The job shows what it showed before the refused take, not a take that never runs.
    expect(view()?.phase).toBe(before?.phase)
    expect(view()?.reasons).toEqual(before?.reasons)
  })

  it('a frozen server quotes no take and starts none, and says why', async () => {
    const { post, api } = await start({ frozen: true })
    for (const route of ['take/quote', 'take']) {
      const refused = await post(route, { job: 'shot', token: 'anything' })
      expect(refused).toMatchObject({
        status: 409,
        body: { code: 'FROZEN', error: expect.stringMatching(/^frozen \(CI is set, or frozen was asked for\): no new take is started here/) },
      })
    }
    await api.idle()
    expect(api.dev?.devSession?.inFlight()).toEqual([])
    // Picking stays free, and allowed: it writes only what the store has.
    expect((await post('pick', { job: 'shot', take: 1, images: [2] })).status).toBe(200)
  })
})

interface PanelStateShape {
  recipes: {
    id: string
    jobs: { id: string; review?: { take: number; takes: { take: number; current: boolean; candidates: { image: number; src: string; sha256: string }[] }[] } }[]
  }[]
}

/** A same-origin JSON POST as a client naming `host` would send it (fetch cannot set Host). */
function postAs(url: string, host: string, body: unknown): Promise<{ status: number; body: string }> {
  const text = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: 'POST',
      setHost: false,
      headers: { Host: host, Origin: `http://${host}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
    })
    request.on('response', (response) => {
      let answer = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        answer += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: answer }))
    })
    request.on('error', reject)
    request.end(text)
  })
}
