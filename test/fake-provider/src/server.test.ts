import { setTimeout as delay } from 'node:timers/promises'
import sharp from 'sharp'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FakeProviderServer, type FakeServerOptions, startFakeProviderServer } from './index.js'

const AUTH = { authorization: 'Bearer test-key' }
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' }

async function png(width: number, height: number, alpha = false): Promise<Buffer> {
  const background = alpha ? { r: 0, g: 0, b: 0, alpha: 0 } : { r: 30, g: 120, b: 200 }
  return sharp({ create: { width, height, channels: alpha ? 4 : 3, background } })
    .png()
    .toBuffer()
}

async function jpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 90, b: 10 } } })
    .jpeg()
    .toBuffer()
}

function dataUrl(bytes: Buffer, mime = 'image/png'): string {
  return `data:${mime};base64,${bytes.toString('base64')}`
}

function blob(bytes: Buffer, type: string): Blob {
  return new Blob([new Uint8Array(bytes)], { type })
}

let server: FakeProviderServer
async function start(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  server = await startFakeProviderServer({ latencyMs: 50, ...options })
  return server
}

afterEach(async () => {
  await server?.close()
})

async function upload(bytes: Buffer, filename = 'ref.png', type = 'image/png'): Promise<Response> {
  const form = new FormData()
  form.append('file', blob(bytes, type), filename)
  return fetch(`${server.baseUrls.toapis}/uploads/images`, { method: 'POST', headers: AUTH, body: form })
}

async function uploadUrl(bytes: Buffer, filename = 'ref.png', type = 'image/png'): Promise<string> {
  const res = await upload(bytes, filename, type)
  const body = (await res.json()) as { success: boolean; data: { url: string } }
  expect(body.success).toBe(true)
  return body.data.url
}

async function submit(body: Record<string, unknown>, headers: Record<string, string> = JSON_AUTH): Promise<Response> {
  return fetch(`${server.baseUrls.toapis}/images/generations`, { method: 'POST', headers, body: JSON.stringify(body) })
}

type TaskBody = Record<string, unknown> & { id: string; status: string; progress?: number }

async function poll(id: string): Promise<TaskBody> {
  const res = await fetch(`${server.baseUrls.toapis}/images/generations/${id}`, { headers: AUTH })
  expect(res.status).toBe(200)
  return (await res.json()) as TaskBody
}

async function pollUntilDone(id: string, seen: TaskBody[] = []): Promise<TaskBody> {
  for (let i = 0; i < 400; i++) {
    const body = await poll(id)
    seen.push(body)
    if (body.status === 'completed' || body.status === 'failed') return body
    await delay(5)
  }
  throw new Error(`task ${id} did not finish`)
}

async function submitTask(body: Record<string, unknown> = {}): Promise<string> {
  const res = await submit({ model: 'gpt-image-1.5-official', prompt: 'a cat', ...body })
  expect(res.status).toBe(200)
  return ((await res.json()) as { id: string }).id
}

async function aa(body: Record<string, unknown>, headers: Record<string, string> = JSON_AUTH): Promise<Response> {
  return fetch(`${server.baseUrls.aa}/api/v1/image/generation`, { method: 'POST', headers, body: JSON.stringify(body) })
}

async function openaiJson(body: Record<string, unknown>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${server.baseUrls.openai}/images/edits`, { method: 'POST', headers: JSON_AUTH, body: JSON.stringify(body), ...init })
}

async function openaiForm(fields: Record<string, string>, files: { name: string; bytes: Buffer; filename?: string }[]): Promise<Response> {
  const form = new FormData()
  for (const file of files) form.append(file.name, blob(file.bytes, 'image/png'), file.filename ?? 'image.png')
  for (const [key, value] of Object.entries(fields)) form.append(key, value)
  return fetch(`${server.baseUrls.openai}/images/edits`, { method: 'POST', headers: AUTH, body: form })
}

async function sizeOf(bytes: Buffer | ArrayBuffer): Promise<{ width: number; height: number; format: string }> {
  const meta = await sharp(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)).metadata()
  return { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? '' }
}

describe('toapis', () => {
  beforeEach(async () => {
    await start({ latencyMs: 100 })
  })

  it('upload → submit → poll → download gives images of the table size', async () => {
    const url = await uploadUrl(await png(64, 48))
    expect(url.startsWith(`${server.url}/files/`)).toBe(true)
    const res = await submit({
      model: 'gpt-image-1.5-official',
      prompt: 'a poster',
      image_urls: [url],
      size: '16:9',
      resolution: '2k',
      n: 2,
      output_format: 'jpeg',
    })
    expect(res.status).toBe(200)
    const created = (await res.json()) as TaskBody
    expect(created).toMatchObject({ object: 'generation.task', model: 'gpt-image-1.5-official', status: 'queued', progress: 0 })
    expect(created.id).toMatch(/^tsk_img_[0-9A-Z]{20}$/)
    expect(typeof created.created_at).toBe('number')

    const seen: TaskBody[] = []
    const done = await pollUntilDone(created.id, seen)
    const progress = seen.filter((b) => b.status === 'in_progress').map((b) => b.progress ?? 0)
    expect(progress.length).toBeGreaterThan(0)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    expect(Math.max(...progress)).toBeLessThan(100)
    expect(done.status).toBe('completed')
    expect(done.progress).toBe(100)
    expect(done.expires_at).toBe((done.completed_at as number) + 86400)
    const result = done.result as { type: string; data: { url: string }[] }
    expect(result.type).toBe('image')
    expect(result.data).toHaveLength(2)
    expect(done.url).toBe(result.data[0]?.url)

    const images: Buffer[] = []
    for (const { url: out } of result.data) {
      const download = await fetch(out)
      expect(download.status).toBe(200)
      expect(download.headers.get('content-type')).toBe('image/jpeg')
      const bytes = Buffer.from(await download.arrayBuffer())
      expect(await sizeOf(bytes)).toEqual({ width: 2048, height: 1152, format: 'jpeg' })
      images.push(bytes)
    }
    expect(images[0]?.equals(images[1] ?? Buffer.alloc(0))).toBe(false)
    expect(server.submits()).toBe(1)
    expect(server.polls).toBe(seen.length)
  })

  it('defaults to 1:1 at 1k and reports pending when configured', async () => {
    await server.close()
    await start({ pollStatusOnSubmit: 'pending', latencyMs: 200 })
    const res = await submit({ model: 'gpt-image-1.5-official', prompt: 'p' })
    const body = (await res.json()) as TaskBody
    expect(body.status).toBe('pending')
    expect((await poll(body.id)).status).toBe('pending')
    expect(server.task(body.id)).toMatchObject({ width: 1024, height: 1024, format: 'png', n: 1 })
  })

  it('serves 4k only for the wide and tall ratios', async () => {
    const bad = await submit({ model: 'gpt-image-1.5-official', prompt: 'p', size: '1:1', resolution: '4k' })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request')
    const id = await submitTask({ size: '9:21', resolution: '4k' })
    const done = await pollUntilDone(id)
    const download = await fetch(done.url as string)
    expect(await sizeOf(await download.arrayBuffer())).toEqual({ width: 1648, height: 3840, format: 'png' })
  })

  it('rejects bad submits with 400 and counts none of them', async () => {
    const url = await uploadUrl(await png(32, 32))
    const cases: Record<string, unknown>[] = [
      { image_urls: Array.from({ length: 17 }, () => url) },
      { image_urls: [dataUrl(await png(8, 8))] },
      { image_urls: ['https://example.com/not-issued.png'] },
      { image_urls: [{ url }] },
      { n: 5 },
      { n: 0 },
      { output_format: 'webp' },
      { resolution: '2K' },
      { size: '7:3' },
      { quality: 'auto' },
      { output_compression: 101 },
      { model: 'gpt-image-9' },
      { prompt: '' },
      { mask_url: url },
    ]
    for (const extra of cases) {
      const res = await submit({ model: 'gpt-image-1.5-official', prompt: 'p', ...extra })
      expect(res.status, JSON.stringify(extra).slice(0, 80)).toBe(400)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('invalid_request')
      expect(body.error.message.length).toBeGreaterThan(0)
    }
    const notJson = await submit({}, JSON_AUTH)
    expect(notJson.status).toBe(400)
    expect(server.submits()).toBe(0)
    expect(server.tasks().length).toBe(0)
  })

  it('checks the mask: PNG with alpha and the size of the first image', async () => {
    const first = await uploadUrl(await jpeg(64, 48), 'a.jpg', 'image/jpeg')
    const wrongSize = await uploadUrl(await png(32, 32, true))
    const noAlpha = await uploadUrl(await png(64, 48, false))
    const good = await uploadUrl(await png(64, 48, true))
    const mismatch = await submit({ model: 'gpt-image-1.5-official', prompt: 'p', image_urls: [first], mask_url: wrongSize })
    expect(mismatch.status).toBe(400)
    expect(((await mismatch.json()) as { error: { message: string } }).error.message).toMatch(/same dimensions/)
    const opaque = await submit({ model: 'gpt-image-1.5-official', prompt: 'p', image_urls: [first], mask_url: noAlpha })
    expect(opaque.status).toBe(400)
    const ok = await submit({ model: 'gpt-image-1.5-official', prompt: 'p', image_urls: [first], mask_url: good })
    expect(ok.status).toBe(200)
    expect(server.submits()).toBe(1)
  })

  it('upload: validates size and type in the documented envelope', async () => {
    const big = await upload(Buffer.alloc(10 * 1024 * 1024 + 1, 1), 'big.png')
    expect(big.status).toBe(400)
    expect(await big.json()).toEqual({ success: false, message: 'Image too large. Maximum size is 10MB' })
    const text = await upload(Buffer.from('hello'), 'a.txt', 'text/plain')
    expect(text.status).toBe(400)
    expect(await text.json()).toEqual({ success: false, message: 'Unsupported image type. Allowed: JPEG, PNG' })
    // References must be PNG or JPEG (providers.md, "Checked again from outside"): WebP and GIF are refused.
    const solid = sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
    for (const [bytes, name, type] of [
      [await solid.clone().webp().toBuffer(), 'a.webp', 'image/webp'],
      [await solid.clone().gif().toBuffer(), 'a.gif', 'image/gif'],
    ] as const) {
      const refused = await upload(bytes, name, type)
      expect(refused.status, name).toBe(400)
      expect(await refused.json()).toEqual({ success: false, message: 'Unsupported image type. Allowed: JPEG, PNG' })
    }
    const jpg = await jpeg(4, 4)
    const ok = await upload(jpg, 'a.jpg', 'image/jpeg')
    const body = (await ok.json()) as { success: boolean; message: string; data: Record<string, unknown> }
    expect(body).toMatchObject({ success: true, message: '', data: { mime_type: 'image/jpeg', size: jpg.length } })
    expect(body.data.id).toMatch(/^upload_/)
    const form = server.rawBodies.find((b) => b.route === 'toapis.upload')?.body
    expect(form).toMatchObject({ kind: 'multipart', parts: [{ name: 'file', filename: 'big.png', size: 10 * 1024 * 1024 + 1 }] })
  })

  it('unknown task → 400 task_not_exist; missing or wrong key → 401', async () => {
    const unknown = await fetch(`${server.baseUrls.toapis}/images/generations/tsk_nope`, { headers: AUTH })
    expect(unknown.status).toBe(400)
    expect(await unknown.json()).toEqual({ message: 'task_not_exist' })
    const missing = await submit({ model: 'gpt-image-1.5-official', prompt: 'p' }, { 'content-type': 'application/json' })
    expect(missing.status).toBe(401)
    expect(await missing.json()).toEqual({ error: { message: '无效的令牌' } })
    const wrong = await submit({ model: 'gpt-image-1.5-official', prompt: 'p' }, { authorization: 'Bearer sk-wrong', 'content-type': 'application/json' })
    expect(wrong.status).toBe(401)
    const form = new FormData()
    form.append('file', blob(await png(4, 4), 'image/png'), 'a.png')
    expect((await fetch(`${server.baseUrls.toapis}/uploads/images`, { method: 'POST', body: form })).status).toBe(401)
    expect(server.submits()).toBe(0)
    const models = await fetch(`${server.baseUrls.toapis}/models`, { headers: AUTH })
    expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toContain('gpt-image-1.5-official')
  })

  it('logs requests with headers and keeps submit bodies', async () => {
    const url = await uploadUrl(await png(16, 16))
    await submitTask({ image_urls: [url], client_business_id: 'job-1' })
    const log = server.requests.find((r) => r.route === 'toapis.submit')
    expect(log).toMatchObject({ method: 'POST', path: '/toapis/v1/images/generations', status: 200, completed: true })
    expect(log?.headers.authorization).toBe('Bearer test-key')
    expect(log?.headers['content-type']).toBe('application/json')
    expect(server.rawBodies.find((b) => b.route === 'toapis.submit')?.body).toEqual({
      model: 'gpt-image-1.5-official',
      prompt: 'a cat',
      image_urls: [url],
      client_business_id: 'job-1',
    })
    expect(server.requestCount('toapis.upload')).toBe(1)
  })

  it('tracks the most tasks running at once', async () => {
    await Promise.all([submitTask(), submitTask(), submitTask()])
    expect(server.maxActiveTasks).toBe(3)
    await delay(150)
    await submitTask()
    expect(server.maxActiveTasks).toBe(3)
  })
})

describe('aa', () => {
  beforeEach(async () => {
    await start()
  })

  it('answers synchronously with URLs of real images', async () => {
    const ref = await png(300, 200)
    const started = Date.now()
    const res = await aa({
      model: 'gpt-image-1.5',
      prompt: 'sky',
      images: [{ image_url: dataUrl(ref) }, { image_url: dataUrl(await jpeg(10, 10), 'image/jpeg') }],
      mask: { image_url: dataUrl(await png(300, 200, true)) },
      size: '1536x1024',
      n: 2,
      output_format: 'webp',
      quality: 'high',
      input_fidelity: 'high',
      moderation: 'low',
      background: 'auto',
      output_compression: 80,
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(res.status).toBe(200)
    const body = (await res.json()) as { code: number; message: string; request_id: string; data: Record<string, unknown> & { urls: string[] } }
    expect(body.code).toBe(0)
    expect(body.message).toBe('success')
    expect(body.request_id).toBeTruthy()
    expect(body.data.urls).toHaveLength(2)
    expect(body.data).toMatchObject({ task_status: 'succeeded', usage: { images: 2 } })
    expect(Date.parse(body.data.expired as string)).toBeGreaterThan(Date.now() + 23 * 3600 * 1000)
    const download = await fetch(body.data.urls[1] ?? '')
    expect(await sizeOf(await download.arrayBuffer())).toEqual({ width: 1536, height: 1024, format: 'webp' })
    expect(server.submits('sky')).toBe(1)
    const recorded = server.rawBodies.find((b) => b.route === 'aa.generate')?.body as { images: { image_url: string }[] }
    expect(recorded.images[0]?.image_url).toMatch(/^data:image\/png;base64,.*chars\)$/)
  })

  it('accepts its own URLs, auto size is 1024x1024, and rejects bad input with non-zero codes', async () => {
    const first = (await (await aa({ model: 'gpt-image-1.5', prompt: 'one' })).json()) as { data: { urls: string[] } }
    const url = first.data.urls[0] ?? ''
    const second = (await (await aa({ model: 'gpt-image-1.5', prompt: 'two', images: [{ image_url: url }] })).json()) as {
      code: number
      data: { urls: string[] }
    }
    expect(second.code).toBe(0)
    expect(await sizeOf(await (await fetch(second.data.urls[0] ?? '')).arrayBuffer())).toMatchObject({ width: 1024, height: 1024 })

    const cases: Record<string, unknown>[] = [
      { images: [{ image_url: 'https://example.com/x.png' }] },
      { images: [{ image_url: 'data:image/png;base64,aGVsbG8=' }] },
      { images: [{ file_id: 'file-1' }] },
      { images: [{ image_url: url, file_id: 'file-1' }] },
      { images: Array.from({ length: 17 }, () => ({ image_url: url })) },
      { images: [{ image_url: url }], mask: { image_url: dataUrl(await png(10, 10, true)) } },
      { size: '2048x2048' },
      { n: 11 },
      { output_format: 'gif' },
      { model: 'dall-e-3' },
    ]
    for (const extra of cases) {
      const res = await aa({ model: 'gpt-image-1.5', prompt: 'p', ...extra })
      expect(res.status, JSON.stringify(extra).slice(0, 80)).toBe(400)
      const body = (await res.json()) as { code: number; message: string }
      expect(body.code).not.toBe(0)
      expect(body.message.length).toBeGreaterThan(0)
    }
    const unauthorized = await aa({ model: 'gpt-image-1.5', prompt: 'p' }, { 'content-type': 'application/json' })
    expect(unauthorized.status).toBe(401)
    expect(((await unauthorized.json()) as { code: number }).code).toBe(401)
    expect(server.submits()).toBe(2)
  })
})

describe('openai', () => {
  beforeEach(async () => {
    await start()
  })

  it('multipart edit with image[] and mask returns b64 images of the requested size', async () => {
    const res = await openaiForm(
      { prompt: 'edit me', model: 'gpt-image-1.5', size: '1024x1536', n: '2', quality: 'low', output_format: 'png', input_fidelity: 'high' },
      [
        { name: 'image[]', bytes: await png(40, 30), filename: 'a.png' },
        { name: 'image[]', bytes: await png(20, 20), filename: 'b.png' },
        { name: 'mask', bytes: await png(40, 30, true), filename: 'mask.png' },
      ],
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    const body = (await res.json()) as {
      created: number
      data: { b64_json: string }[]
      size: string
      output_format: string
      quality: string
      usage: Record<string, unknown>
    }
    expect(body).toMatchObject({ size: '1024x1536', output_format: 'png', quality: 'low', background: 'opaque' })
    expect(body.usage.total_tokens).toBeGreaterThan(0)
    expect(body.data).toHaveLength(2)
    for (const item of body.data) expect(await sizeOf(Buffer.from(item.b64_json, 'base64'))).toEqual({ width: 1024, height: 1536, format: 'png' })
    const recorded = server.rawBodies.find((b) => b.route === 'openai.edit')?.body as {
      kind: string
      parts: { name: string; filename?: string; size: number }[]
      fields: Record<string, string>
    }
    expect(recorded.kind).toBe('multipart')
    expect(recorded.parts.filter((p) => p.filename).map((p) => [p.name, p.filename])).toEqual([
      ['image[]', 'a.png'],
      ['image[]', 'b.png'],
      ['mask', 'mask.png'],
    ])
    expect(recorded.fields.prompt).toBe('edit me')
    expect(server.submits((b) => b.size === '1024x1536')).toBe(1)
  })

  it('rejects moderation in multipart, bad masks, and bad keys', async () => {
    const image = await png(40, 30)
    const moderation = await openaiForm({ prompt: 'p', moderation: 'low' }, [{ name: 'image', bytes: image }])
    expect(moderation.status).toBe(400)
    const error = ((await moderation.json()) as { error: Record<string, unknown> }).error
    expect(error).toEqual({ message: "Unknown parameter: 'moderation'.", type: 'invalid_request_error', param: 'moderation', code: 'unknown_parameter' })
    expect(moderation.headers.get('x-request-id')).toBeTruthy()
    const mask = await openaiForm({ prompt: 'p' }, [
      { name: 'image', bytes: image },
      { name: 'mask', bytes: await png(41, 30, true) },
    ])
    expect(mask.status).toBe(400)
    expect(((await mask.json()) as { error: { param: string } }).error.param).toBe('mask')
    const noKey = await fetch(`${server.baseUrls.openai}/images/edits`, {
      method: 'POST',
      body: JSON.stringify({}),
      headers: { 'content-type': 'application/json' },
    })
    expect(noKey.status).toBe(401)
    const body = (await noKey.json()) as { error: Record<string, unknown> }
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type'])
    expect(server.submits()).toBe(0)
  })

  it('JSON edit with data URLs and moderation; auto size is 1024x1024', async () => {
    const res = await openaiJson({
      model: 'gpt-image-1.5',
      prompt: 'json',
      images: [{ image_url: dataUrl(await png(50, 50)) }],
      moderation: 'low',
      output_format: 'jpeg',
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { data: { b64_json: string }[]; size: string }
    expect(body.size).toBe('1024x1024')
    expect(await sizeOf(Buffer.from(body.data[0]?.b64_json ?? '', 'base64'))).toEqual({ width: 1024, height: 1024, format: 'jpeg' })
    const unknown = await openaiJson({ model: 'gpt-image-1.5', prompt: 'json', images: [{ image_url: dataUrl(await png(50, 50)) }], colour: 'red' })
    expect(unknown.status).toBe(400)
    const noImages = await openaiJson({ model: 'gpt-image-1.5', prompt: 'json' })
    expect(noImages.status).toBe(400)
  })

  it('policy refusal is 400 moderation_blocked and not counted', async () => {
    server.fault('openai.edit', { kind: 'policy' })
    const res = await openaiJson({ prompt: 'x', images: [{ image_url: dataUrl(await png(8, 8)) }] })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string; type: string } }).error).toMatchObject({
      code: 'moderation_blocked',
      type: 'image_generation_user_error',
    })
    expect(server.submits()).toBe(0)
  })

  it('measures requests in flight', async () => {
    const image = dataUrl(await png(8, 8))
    await Promise.all(Array.from({ length: 5 }, (_, i) => openaiJson({ prompt: `p${i}`, images: [{ image_url: image }] }).then((r) => r.arrayBuffer())))
    expect(server.maxInFlight.byRoute['openai.edit']).toBe(5)
    expect(server.maxInFlight.overall).toBe(5)
    expect(server.inFlight.overall).toBe(0)
    expect(server.submitsByPrompt().get('p3')).toBe(1)
  })
})

describe('faults', () => {
  beforeEach(async () => {
    await start()
  })

  it('status: protocol error bodies, Retry-After, HTML gateway pages; then the queue moves on', async () => {
    server.fault('toapis.submit', { kind: 'status', status: 429, retryAfter: 2 }, { kind: 'status', status: 504, html: true })
    expect(server.pendingFaults('toapis.submit')).toBe(2)
    const limited = await submit({ model: 'gpt-image-1.5-official', prompt: 'p' })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('2')
    expect(limited.headers.get('x-ratelimit-category')).toBe('async_submit')
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded')
    const gateway = await submit({ model: 'gpt-image-1.5-official', prompt: 'p' })
    expect(gateway.status).toBe(504)
    expect(gateway.headers.get('content-type')).toBe('text/html')
    expect(await gateway.text()).toContain('<title>504 Gateway Time-out</title>')
    expect((await submit({ model: 'gpt-image-1.5-official', prompt: 'p' })).status).toBe(200)
    expect(server.submits()).toBe(1)

    server.fault('openai.edit', { kind: 'status', status: 429, retryAfterMs: 250 })
    const openai = await openaiJson({})
    expect(openai.status).toBe(429)
    expect(openai.headers.get('retry-after-ms')).toBe('250')
    expect(openai.headers.get('retry-after')).toBeNull()
    expect(((await openai.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded')
    server.fault('aa.generate', { kind: 'status', status: 500 }, { kind: 'status', status: 418, body: { custom: true } })
    const aaRes = await aa({})
    expect(aaRes.status).toBe(500)
    expect(((await aaRes.json()) as { code: number }).code).toBe(500)
    expect(await (await aa({})).json()).toEqual({ custom: true })
    server.fault('toapis.submit', { kind: 'status', status: 422 })
    expect(((await (await submit({})).json()) as { error: { code: string } }).error.code).toBe('content_policy_violation')
    expect(server.requests.filter((r) => r.fault === 'status')).toHaveLength(6)
  })

  it('reset before the body: nothing is created; after the body: the task exists and is counted', async () => {
    server.fault('toapis.submit', { kind: 'reset', when: 'before-body' })
    await expect(submit({ model: 'gpt-image-1.5-official', prompt: 'p' })).rejects.toThrow()
    expect(server.submits()).toBe(0)
    server.fault('toapis.submit', { kind: 'reset', when: 'after-body' })
    await expect(submit({ model: 'gpt-image-1.5-official', prompt: 'p' })).rejects.toThrow()
    expect(server.submits()).toBe(1)
    expect(server.tasks()).toHaveLength(1)
    expect(server.requests.map((r) => r.status)).toEqual([0, 0])
  })

  it('stall: no answer until the client gives up; after-body counts the submission', async () => {
    server.fault('aa.generate', { kind: 'stall' }, { kind: 'stall', when: 'after-body' })
    const body = JSON.stringify({ model: 'gpt-image-1.5', prompt: 'p' })
    const url = `${server.baseUrls.aa}/api/v1/image/generation`
    const before = Date.now()
    await expect(fetch(url, { method: 'POST', headers: JSON_AUTH, body, signal: AbortSignal.timeout(150) })).rejects.toThrow()
    expect(Date.now() - before).toBeGreaterThanOrEqual(140)
    expect(server.submits()).toBe(0)
    await expect(fetch(url, { method: 'POST', headers: JSON_AUTH, body, signal: AbortSignal.timeout(150) })).rejects.toThrow()
    expect(server.submits()).toBe(1)
    await delay(20)
    expect(server.inFlight.byRoute['aa.generate'] ?? 0).toBe(0)
    expect(server.requests.map((r) => [r.fault, r.status])).toEqual([
      ['stall', 0],
      ['stall', 0],
    ])
  })

  it('stall and unbounded responses do not outlive close()', async () => {
    server.fault('toapis.poll', { kind: 'stall' })
    const id = await submitTask()
    const stalled = fetch(`${server.baseUrls.toapis}/images/generations/${id}`, { headers: AUTH })
    server.fault('files.download', { kind: 'unbounded' })
    const done = await pollUntilDone(id)
    const streaming = await fetch(done.url as string)
    const reader = streaming.body?.getReader()
    await reader?.read()
    await delay(20)
    expect(server.inFlight.overall).toBe(2)
    const started = Date.now()
    await server.close()
    // Without the fix close() waits forever on the stalled requests; only a real hang reaches 15 s,
    // never a loaded 2-core machine.
    expect(Date.now() - started).toBeLessThan(15_000)
    await expect(stalled).rejects.toThrow()
    await expect(
      (async () => {
        for (;;) if ((await reader?.read())?.done) return 'ended'
      })(),
    ).rejects.toThrow()
    await server.close()
  })

  it('malformed-json: a 200 that is not JSON (a submit is still accepted)', async () => {
    server.fault('toapis.submit', { kind: 'malformed-json' })
    const res = await submit({ model: 'gpt-image-1.5-official', prompt: 'p' })
    expect(res.status).toBe(200)
    await expect(res.json()).rejects.toThrow()
    expect(server.submits()).toBe(1)
    const id = await submitTask()
    server.fault('toapis.poll', { kind: 'malformed-json' })
    const poll = await fetch(`${server.baseUrls.toapis}/images/generations/${id}`, { headers: AUTH })
    await expect(poll.json()).rejects.toThrow()
  })

  it('task-fails: toapis task ends failed; aa and openai answer a server error after counting', async () => {
    server.fault('toapis.submit', { kind: 'task-fails' }, { kind: 'task-fails', code: 'xxx.Custom', message: 'boom' })
    const failed = await pollUntilDone(await submitTask())
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'generation_failed', message: '内容审核未通过' } })
    expect(failed.url).toBeUndefined()
    expect((await pollUntilDone(await submitTask())).error).toEqual({ code: 'xxx.Custom', message: 'boom' })
    server.fault('aa.generate', { kind: 'task-fails' })
    const aaRes = await aa({ model: 'gpt-image-1.5', prompt: 'p' })
    expect(aaRes.status).toBe(500)
    expect(await aaRes.json()).toMatchObject({ code: 500, data: { task_status: 'failed' } })
    server.fault('openai.edit', { kind: 'task-fails' })
    const openai = await openaiJson({ prompt: 'p', images: [{ image_url: dataUrl(await png(8, 8)) }] })
    expect(openai.status).toBe(500)
    expect(((await openai.json()) as { error: { type: string } }).error.type).toBe('server_error')
    expect(server.submits()).toBe(4)
  })

  it('never-finishes: stays in_progress below 100', async () => {
    server.fault('toapis.submit', { kind: 'never-finishes' })
    const id = await submitTask()
    await delay(120)
    const first = await poll(id)
    await delay(60)
    const second = await poll(id)
    expect(first.status).toBe('in_progress')
    expect(second.status).toBe('in_progress')
    expect(second.progress).toBeLessThan(100)
    expect(server.task(id)?.finishesAt).toBe(Number.POSITIVE_INFINITY)
    server.fault('openai.edit', { kind: 'never-finishes' })
    await expect(openaiJson({ prompt: 'p', images: [{ image_url: dataUrl(await png(8, 8)) }] }, { signal: AbortSignal.timeout(150) })).rejects.toThrow()
    expect(server.submits()).toBe(2)
  })

  it('truncated: Content-Length larger than the bytes sent', async () => {
    const done = await pollUntilDone(await submitTask())
    server.fault('files.download', { kind: 'truncated' })
    const res = await fetch(done.url as string)
    expect(res.status).toBe(200)
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0)
    await expect(res.arrayBuffer()).rejects.toThrow()
    const whole = await fetch(done.url as string)
    expect(Buffer.from(await whole.arrayBuffer()).length).toBe(Number(res.headers.get('content-length')))
  })

  it('not-image and wrong-size on downloads, task results and b64', async () => {
    const done = await pollUntilDone(await submitTask({ size: '3:2' }))
    server.fault('files.download', { kind: 'not-image' }, { kind: 'wrong-size' })
    const notImage = await fetch(done.url as string)
    expect(notImage.status).toBe(200)
    expect(notImage.headers.get('content-type')).toBe('image/png')
    await expect(sizeOf(await notImage.arrayBuffer())).rejects.toThrow()
    expect(await sizeOf(await (await fetch(done.url as string)).arrayBuffer())).toMatchObject({ width: 768, height: 512 })
    expect(await sizeOf(await (await fetch(done.url as string)).arrayBuffer())).toMatchObject({ width: 1536, height: 1024 })

    server.fault('toapis.submit', { kind: 'wrong-size' })
    const wrong = await pollUntilDone(await submitTask())
    expect(await sizeOf(await (await fetch(wrong.url as string)).arrayBuffer())).toMatchObject({ width: 512, height: 512 })
    server.fault('openai.edit', { kind: 'not-image' })
    const openai = (await (await openaiJson({ prompt: 'p', images: [{ image_url: dataUrl(await png(8, 8)) }] })).json()) as { data: { b64_json: string }[] }
    await expect(sizeOf(Buffer.from(openai.data[0]?.b64_json ?? '', 'base64'))).rejects.toThrow()
  })

  it('expired: result URLs answer 403 once expired', async () => {
    server.fault('toapis.submit', { kind: 'expired' })
    const done = await pollUntilDone(await submitTask())
    expect(done.expires_at).toBe(done.completed_at)
    const gone = await fetch(done.url as string)
    expect(gone.status).toBe(403)
    expect(await gone.text()).toContain('<Code>AccessDenied</Code>')
    const fresh = await pollUntilDone(await submitTask())
    server.fault('files.download', { kind: 'expired' })
    expect((await fetch(fresh.url as string)).status).toBe(403)
    expect((await fetch(fresh.url as string)).status).toBe(200)
    server.fault('toapis.poll', { kind: 'expired' })
    await poll(fresh.id)
    expect((await fetch(fresh.url as string)).status).toBe(403)
    expect((await fetch(`${server.url}/files/res_nope.png`)).status).toBe(404)
  })

  it('expired: resultTtlMs ends downloads', async () => {
    await server.close()
    await start({ resultTtlMs: 60 })
    const res = (await (await aa({ model: 'gpt-image-1.5', prompt: 'p' })).json()) as { data: { urls: string[] } }
    const url = res.data.urls[0] ?? ''
    expect((await fetch(url)).status).toBe(200)
    await delay(80)
    expect((await fetch(url)).status).toBe(403)
  })

  it('unbounded: bytes keep coming until the client aborts', async () => {
    server.fault('openai.edit', { kind: 'unbounded' })
    const controller = new AbortController()
    const res = await openaiJson({ prompt: 'p', images: [{ image_url: dataUrl(await png(8, 8)) }] }, { signal: controller.signal })
    expect(res.headers.get('content-length')).toBeNull()
    const reader = res.body?.getReader()
    let received = 0
    while (received < 2 * 1024 * 1024) {
      const chunk = await reader?.read()
      if (!chunk || chunk.done) throw new Error('stream ended')
      received += chunk.value.length
    }
    controller.abort()
    await delay(50)
    expect(server.inFlight.overall).toBe(0)
  })

  it('failEvery is seeded and reproducible; faultOnPrompt targets prompts', async () => {
    const outcomes = async (): Promise<number[]> => {
      server.failEvery('toapis.models', 0.5, { kind: 'status', status: 503 })
      const statuses: number[] = []
      for (let i = 0; i < 20; i++) statuses.push((await fetch(`${server.baseUrls.toapis}/models`, { headers: AUTH })).status)
      return statuses
    }
    const first = await outcomes()
    expect(first.filter((s) => s === 503).length).toBeGreaterThan(2)
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(2)
    server.reset()
    expect(await outcomes()).toEqual(first)
    server.reset()
    expect((await fetch(`${server.baseUrls.toapis}/models`, { headers: AUTH })).status).toBe(200)

    server.faultOnPrompt('FORBIDDEN', { kind: 'policy' })
    expect((await submit({ model: 'gpt-image-1.5-official', prompt: 'a FORBIDDEN thing' })).status).toBe(422)
    expect((await submit({ model: 'gpt-image-1.5-official', prompt: 'fine' })).status).toBe(200)
    const aaBlocked = await aa({ model: 'gpt-image-1.5', prompt: 'FORBIDDEN' })
    expect(aaBlocked.status).toBe(400)
    expect(server.submits()).toBe(1)
    expect(() => server.faultOnPrompt('x', { kind: 'reset', when: 'before-body' })).toThrow()
  })

  it('refuses faults that cannot apply to a route', () => {
    expect(() => server.fault('toapis.upload', { kind: 'task-fails' })).toThrow(/does not apply/)
    expect(() => server.fault('files.download', { kind: 'policy' })).toThrow(/does not apply/)
    expect(() => server.failEvery('toapis.poll', 2, { kind: 'status', status: 500 })).toThrow()
    expect(server.pendingFaults()).toBe(0)
  })
})

describe('answers of the 2026-12 check', () => {
  beforeEach(async () => {
    await start({ latencyMs: 20 })
  })

  it('aa-early: accepted and counted, code 0 (or "0") with no urls, the task id and a non-final status', async () => {
    server.fault('aa.generate', { kind: 'aa-early' }, { kind: 'aa-early', status: 'queued', codeAsString: true }, { kind: 'aa-early', noTaskId: true })
    const first = (await (await aa({ model: 'gpt-image-1.5', prompt: 'early' })).json()) as { code: unknown; data: Record<string, unknown> }
    expect(first).toMatchObject({ code: 0, message: 'success', data: { urls: [], task_status: 'processing' } })
    expect(first.data.task_id).toBe(server.submissions[0]?.taskId)
    expect(first.data.task_id).toMatch(/^task_/)
    const second = (await (await aa({ model: 'gpt-image-1.5', prompt: 'early' })).json()) as { code: unknown; data: Record<string, unknown> }
    expect(second).toMatchObject({ code: '0', data: { urls: [], task_status: 'queued' } })
    const third = (await (await aa({ model: 'gpt-image-1.5', prompt: 'early' })).json()) as { code: unknown; data: Record<string, unknown> }
    expect(third.data.task_id).toBeUndefined()
    expect(server.submits('early')).toBe(3)
  })

  it('code-as-string: a normal aa success with code "0"', async () => {
    server.fault('aa.generate', { kind: 'code-as-string' })
    const body = (await (await aa({ model: 'gpt-image-1.5', prompt: 'p' })).json()) as { code: unknown; data: { urls: string[] } }
    expect(body.code).toBe('0')
    expect(body.data.urls).toHaveLength(1)
  })

  it('task-shape: other status words per phase, top-level url only, failures without an error object', async () => {
    server.fault(
      'toapis.submit',
      { kind: 'task-shape', statuses: { queued: 'submitted', running: 'processing', completed: 'succeeded' }, urls: 'top-level' },
      { kind: 'task-shape', statuses: { failed: 'cancelled' }, fails: true },
    )
    const submitted = await submit({ model: 'gpt-image-1.5-official', prompt: 'shaped', n: 2 })
    const { id, status } = (await submitted.json()) as { id: string; status: string }
    expect(status).toBe('submitted')
    const seen = new Set<string>()
    let done: TaskBody | undefined
    for (let i = 0; i < 400 && !done; i++) {
      const body = await poll(id)
      seen.add(body.status)
      if (body.status === 'succeeded') done = body
      else await delay(5)
    }
    expect(done?.result).toBeUndefined()
    expect(done?.url).toMatch(/\/files\//)
    expect([...seen].every((word) => ['submitted', 'processing', 'succeeded'].includes(word))).toBe(true)
    const cancelled = await submitTask()
    await delay(60)
    const ended = await poll(cancelled)
    expect(ended.status).toBe('cancelled')
    expect(ended.error).toBeUndefined()
    expect(server.submits()).toBe(2)
  })

  it('toapis submit refuses references that are not PNG or JPEG', async () => {
    const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } })
      .webp()
      .toBuffer()
    const external = 'https://example.test/ref.webp'
    await server.close()
    await start({ latencyMs: 20, externalImages: { [external]: webp } })
    const res = await submit({ model: 'gpt-image-1.5-official', prompt: 'p', image_urls: [external] })
    expect(res.status).toBe(400)
    expect(JSON.stringify(await res.json())).toMatch(/PNG or JPEG/)
    expect(server.submits()).toBe(0)
  })
})

describe('counters', () => {
  beforeEach(async () => {
    await start()
  })

  it('submits counts only accepted paid submissions', async () => {
    const image = dataUrl(await png(8, 8))
    await submitTask({ prompt: 'a red cat' })
    await submitTask({ prompt: 'a blue dog' })
    await submit({ model: 'gpt-image-1.5-official', prompt: 'a red cat', size: '1:1', resolution: '4k' })
    await submit({ model: 'gpt-image-1.5-official', prompt: 'a red cat' }, { 'content-type': 'application/json' })
    server.fault('toapis.submit', { kind: 'status', status: 429, retryAfter: null })
    const limited = await submit({ model: 'gpt-image-1.5-official', prompt: 'a red cat' })
    expect(limited.headers.get('retry-after')).toBeNull()
    await (await aa({ model: 'gpt-image-1.5', prompt: 'a red cat', images: [{ image_url: image }] })).arrayBuffer()
    await (await aa({ model: 'gpt-image-1.5', prompt: 'a red cat', n: 0 })).arrayBuffer()
    await (await openaiJson({ prompt: 'a green cat', images: [{ image_url: image }], n: 3 })).arrayBuffer()
    expect(server.submits()).toBe(4)
    expect(server.submits('cat')).toBe(3)
    expect(server.submits('red')).toBe(2)
    expect(server.submits((body) => body.n === 3)).toBe(1)
    expect(server.submitsByPrompt()).toEqual(
      new Map([
        ['a red cat', 2],
        ['a blue dog', 1],
        ['a green cat', 1],
      ]),
    )
    expect(server.submissions.map((s) => s.route)).toEqual(['toapis.submit', 'toapis.submit', 'aa.generate', 'openai.edit'])
    server.fault('toapis.poll', { kind: 'status', status: 500 })
    server.reset()
    expect(server.submits()).toBe(0)
    expect(server.requests).toHaveLength(0)
    expect(server.rawBodies).toHaveLength(0)
    expect(server.pendingFaults()).toBe(0)
    expect(server.polls).toBe(0)
  })
})

describe('scale options', () => {
  it('rateLimits: over the per-minute limit a route answers 429 with Retry-After and creates nothing', async () => {
    await start({ rateLimits: { 'toapis.submit': 2 } })
    await submitTask({ prompt: 'one' })
    const second = await submitTask({ prompt: 'two' })
    const refused = await submit({ model: 'gpt-image-1.5-official', prompt: 'three' })
    expect(refused.status).toBe(429)
    // The first request leaves the window a minute after it was counted.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(59)
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60)
    expect(server.submits()).toBe(2)
    expect(server.submitsByPrompt().has('three')).toBe(false)
    expect(server.requests.filter((entry) => entry.rateLimited)).toHaveLength(1)
    // Other routes are not limited.
    expect((await poll(second)).id).toBe(second)
    expect((await poll(second)).id).toBe(second)
    await expect(startFakeProviderServer({ rateLimits: { 'toapis.poll': 0 } })).rejects.toThrow(RangeError)
  })

  it('sharedRenders: results have distinct bytes and the same pixels per size', async () => {
    await start({ sharedRenders: true })
    const urls: string[] = []
    for (const prompt of ['a cat', 'a dog']) {
      const done = await pollUntilDone(await submitTask({ prompt, size: '1:1', resolution: '1k' }))
      urls.push(...(done.result as { data: { url: string }[] }).data.map((entry) => entry.url))
    }
    const images = await Promise.all(urls.map(async (url) => Buffer.from(await (await fetch(url)).arrayBuffer())))
    expect(images[0]?.equals(images[1] ?? Buffer.alloc(0))).toBe(false)
    const pixels = await Promise.all(images.map((bytes) => sharp(bytes, { failOn: 'warning' }).raw().toBuffer()))
    expect(pixels[0]?.equals(pixels[1] ?? Buffer.alloc(0))).toBe(true)
    expect(await sizeOf(images[0] ?? Buffer.alloc(0))).toEqual({ width: 1024, height: 1024, format: 'png' })
  })
})
