/**
 * What each provider puts on the wire, asserted per parameter against shared/providers.md: the
 * fake server records every request's headers and body (`server.requests`, `server.rawBodies`).
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { exists, imageInfo, makeImage } from '../helpers.js'
import { build, REF_SIZE, Resources, readRecords, requestsOn, serverEnv } from './harness.js'

const resources = new Resources()
afterEach(() => resources.release())

interface MultipartBody {
  kind: 'multipart'
  parts: { name: string; filename?: string; contentType?: string; size: number }[]
  fields: Record<string, string>
}

async function sizeOf(dir: string, path: string): Promise<number> {
  return (await stat(join(dir, path))).size
}

/** The data URL the provider should send for a file, and how the server records it (long strings are shortened to 64 chars). */
async function dataUrl(dir: string, path: string, format: string): Promise<{ full: string; recorded: string }> {
  const full = `data:image/${format};base64,${(await readFile(join(dir, path))).toString('base64')}`
  return { full, recorded: full.length > 512 ? `${full.slice(0, 64)}…(${full.length} chars)` : full }
}

describe('toapis requests', () => {
  it('uploads each input once as multipart `file` with Bearer auth, submits plain URL strings and every parameter, and reuses uploads on the next run', async () => {
    const server = await resources.server()
    const dir = await resources.project({
      provider: 'toapis',
      concurrency: 1,
      recipes: {
        wide: {
          prompt: 'toapis wide jpeg',
          refs: ['refs/a.png', 'refs/b.jpg'],
          mask: 'masks/m.png',
          ratio: '16:9',
          resolution: '2k',
          quality: 'medium',
          n: 2,
          format: 'jpeg',
          compression: 70,
          background: 'opaque',
        },
        plain: { prompt: 'toapis plain png', refs: ['refs/a.png'], quality: 'low', format: 'png', compression: 50 },
      },
    })
    const env = serverEnv(server)
    const { result } = await build(dir, env)
    expect(result.failed).toEqual([])
    expect(await imageInfo(join(dir, 'out/wide-1.jpg'))).toEqual({ width: 2048, height: 1152, format: 'jpeg' })
    expect(await imageInfo(join(dir, 'out/plain.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })

    // Uploads: one per distinct input (a.png is shared by both recipes), refs in order, then the mask.
    const uploads = requestsOn(server, 'toapis.upload')
    expect(uploads).toHaveLength(3)
    for (const upload of uploads) {
      expect(upload.method).toBe('POST')
      expect(upload.headers.authorization).toBe(`Bearer ${server.apiKey}`)
      expect(upload.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    }
    const uploadBodies = server.rawBodies.filter((entry) => entry.route === 'toapis.upload').map((entry) => entry.body as MultipartBody)
    const fileParts = uploadBodies.map((body) => body.parts.filter((part) => part.name === 'file'))
    for (const parts of fileParts) {
      expect(parts).toHaveLength(1)
      expect(parts[0]?.filename).toEqual(expect.any(String))
    }
    expect(fileParts.map((parts) => [parts[0]?.contentType, parts[0]?.size])).toEqual([
      ['image/png', await sizeOf(dir, 'refs/a.png')],
      ['image/jpeg', await sizeOf(dir, 'refs/b.jpg')],
      ['image/png', await sizeOf(dir, 'masks/m.png')],
    ])

    // Submits: JSON, Bearer, the documented fields.
    const submits = requestsOn(server, 'toapis.submit')
    expect(submits).toHaveLength(2)
    for (const submit of submits) {
      expect(submit.headers.authorization).toBe(`Bearer ${server.apiKey}`)
      expect(submit.headers['content-type']).toMatch(/^application\/json/)
    }
    const wide = server.submissions.find((item) => item.prompt === 'toapis wide jpeg')?.body
    const plain = server.submissions.find((item) => item.prompt === 'toapis plain png')?.body
    expect(wide).toEqual({
      model: 'gpt-image-1.5-official',
      prompt: 'toapis wide jpeg',
      image_urls: [expect.any(String), expect.any(String)],
      mask_url: expect.any(String),
      size: '16:9',
      resolution: '2k',
      quality: 'medium',
      n: 2,
      output_format: 'jpeg',
      output_compression: 70,
      background: 'opaque',
    })
    // png: no output_compression (it is only for jpeg); no background when the recipe sets none.
    expect(plain).toEqual({
      model: 'gpt-image-1.5-official',
      prompt: 'toapis plain png',
      image_urls: [expect.any(String)],
      size: '1:1',
      resolution: '1k',
      quality: 'low',
      n: 1,
      output_format: 'png',
    })
    // image_urls are plain strings the server issued for the uploads, in order; the mask likewise.
    const wideUrls = wide?.image_urls as string[]
    expect(wideUrls.every((url) => url.startsWith(`${server.baseUrls.files}/upload_`))).toBe(true)
    expect(plain?.image_urls).toEqual([wideUrls[0]])
    const fetched = async (url: unknown) => Buffer.from(await (await fetch(String(url))).arrayBuffer())
    expect((await fetched(wideUrls[0])).equals(await readFile(join(dir, 'refs/a.png')))).toBe(true)
    expect((await fetched(wideUrls[1])).equals(await readFile(join(dir, 'refs/b.jpg')))).toBe(true)
    expect((await fetched(wide?.mask_url)).equals(await readFile(join(dir, 'masks/m.png')))).toBe(true)

    // Polls and downloads: polls carry the key; result downloads (another host in production) never do.
    const polls = requestsOn(server, 'toapis.poll')
    expect(polls.length).toBeGreaterThan(0)
    for (const poll of polls) {
      expect(poll.method).toBe('GET')
      expect(poll.headers.authorization).toBe(`Bearer ${server.apiKey}`)
      expect(poll.path).toMatch(/^\/toapis\/v1\/images\/generations\/tsk_img_/)
    }
    const downloads = requestsOn(server, 'files.download').filter((request) => request.path.includes('/res_'))
    expect(downloads).toHaveLength(3)
    for (const download of downloads) expect(download.headers.authorization).toBeUndefined()

    // The upload cache is on disk; a new paid take of both recipes uploads nothing again.
    expect(await exists(join(dir, '.images-edit/uploads.json'))).toBe(true)
    const again = await build(dir, env, { force: ['wide', 'plain'] })
    expect(again.result.failed).toEqual([])
    expect(again.result.done.sort()).toEqual(['plain', 'wide'])
    expect(requestsOn(server, 'toapis.upload')).toHaveLength(3)
    expect(server.submits('toapis wide jpeg')).toBe(2)
    const retake = server.submissions.filter((item) => item.prompt === 'toapis wide jpeg')[1]?.body
    expect(retake?.image_urls).toEqual(wideUrls)
    expect(retake?.mask_url).toBe(wide?.mask_url)
  })
})

describe('aa requests', () => {
  it('sends JSON with images [{image_url: data URL}], mask {image_url}, size WxH, n, format and the optional parameters only when set', async () => {
    const server = await resources.server()
    const dir = await resources.project({
      provider: 'aa',
      recipes: {
        full: {
          prompt: 'aa full parameters',
          refs: ['refs/a.png', 'refs/b.jpg'],
          mask: 'masks/m.png',
          ratio: '2:3',
          n: 2,
          quality: 'medium',
          format: 'webp',
          compression: 60,
          background: 'transparent',
          inputFidelity: 'high',
          moderation: 'low',
        },
        bare: { prompt: 'aa bare', refs: ['refs/b.jpg'], format: 'png' },
      },
    })
    const { result } = await build(dir, serverEnv(server))
    expect(result.failed).toEqual([])
    expect(await imageInfo(join(dir, 'out/full-2.webp'))).toEqual({ width: 1024, height: 1536, format: 'webp' })

    const requests = requestsOn(server, 'aa.generate')
    expect(requests).toHaveLength(2)
    for (const request of requests) {
      expect(request.method).toBe('POST')
      expect(request.path).toBe('/aa/api/v1/image/generation')
      expect(request.headers.authorization).toBe(`Bearer ${server.apiKey}`)
      expect(request.headers['content-type']).toMatch(/^application\/json/)
    }
    const full = server.submissions.find((item) => item.prompt === 'aa full parameters')?.body
    expect(full).toEqual({
      model: 'gpt-image-1.5',
      prompt: 'aa full parameters',
      images: [{ image_url: (await dataUrl(dir, 'refs/a.png', 'png')).recorded }, { image_url: (await dataUrl(dir, 'refs/b.jpg', 'jpeg')).recorded }],
      mask: { image_url: (await dataUrl(dir, 'masks/m.png', 'png')).recorded },
      size: '1024x1536',
      n: 2,
      quality: 'medium',
      output_format: 'webp',
      output_compression: 60,
      background: 'transparent',
      input_fidelity: 'high',
      moderation: 'low',
    })
    const bare = server.submissions.find((item) => item.prompt === 'aa bare')?.body
    expect(bare).toEqual({
      model: 'gpt-image-1.5',
      prompt: 'aa bare',
      images: [{ image_url: (await dataUrl(dir, 'refs/b.jpg', 'jpeg')).recorded }],
      size: '1024x1024',
      n: 1,
      quality: 'high',
      output_format: 'png',
    })
    // Result downloads carry no key.
    const downloads = requestsOn(server, 'files.download')
    expect(downloads).toHaveLength(3)
    for (const download of downloads) expect(download.headers.authorization).toBeUndefined()
  })
})

describe('openai requests', () => {
  it('multipart: one `image[]` part per ref in order, a `mask` part and text fields; no `moderation` field (a warning instead)', async () => {
    const server = await resources.server()
    const dir = await resources.project({
      provider: 'openai',
      recipes: {
        multi: {
          prompt: 'openai multipart edit',
          refs: ['refs/a.png', 'refs/b.jpg', 'refs/a.png'],
          mask: 'masks/m.png',
          ratio: '3:2',
          n: 2,
          quality: 'low',
          format: 'jpeg',
          compression: 55,
          background: 'opaque',
          inputFidelity: 'low',
          moderation: 'low',
        },
      },
    })
    const { result } = await build(dir, serverEnv(server))
    expect(result.failed).toEqual([])
    expect(await imageInfo(join(dir, 'out/multi-1.jpg'))).toEqual({ width: 1536, height: 1024, format: 'jpeg' })

    const requests = requestsOn(server, 'openai.edit')
    expect(requests).toHaveLength(1)
    expect(requests[0]?.headers.authorization).toBe(`Bearer ${server.apiKey}`)
    expect(requests[0]?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    const body = server.rawBodies.find((entry) => entry.route === 'openai.edit')?.body as MultipartBody
    const files = body.parts.filter((part) => part.filename !== undefined)
    expect(files.map((part) => [part.name, part.contentType, part.size])).toEqual([
      ['image[]', 'image/png', await sizeOf(dir, 'refs/a.png')],
      ['image[]', 'image/jpeg', await sizeOf(dir, 'refs/b.jpg')],
      ['image[]', 'image/png', await sizeOf(dir, 'refs/a.png')],
      ['mask', 'image/png', await sizeOf(dir, 'masks/m.png')],
    ])
    expect(body.fields).toEqual({
      model: 'gpt-image-1.5',
      prompt: 'openai multipart edit',
      n: '2',
      size: '1536x1024',
      quality: 'low',
      output_format: 'jpeg',
      output_compression: '55',
      background: 'opaque',
      input_fidelity: 'low',
    })
    const record = (await readRecords(dir))[0]
    expect(record?.takes[0]?.runs[0]?.warnings.join('\n')).toMatch(/moderation/)
  })

  it('JSON when a ref is an https URL: images [{image_url}] with the URL passed through, data URLs for local files, mask, moderation', async () => {
    const external = 'https://images.example.com/ref.png'
    const server = await resources.server({ externalImages: { [external]: await makeImage({ ...REF_SIZE, color: { r: 10, g: 200, b: 90 } }) } })
    const dir = await resources.project({
      provider: 'openai',
      recipes: {
        remote: {
          prompt: 'openai json edit',
          refs: [external, 'refs/b.jpg'],
          mask: 'masks/m.png',
          n: 1,
          quality: 'auto',
          format: 'png',
          background: 'transparent',
          moderation: 'low',
          inputFidelity: 'high',
        },
      },
    })
    const { result } = await build(dir, serverEnv(server))
    expect(result.failed).toEqual([])
    expect(await imageInfo(join(dir, 'out/remote.png'))).toEqual({ width: 1024, height: 1024, format: 'png' })

    const requests = requestsOn(server, 'openai.edit')
    expect(requests).toHaveLength(1)
    expect(requests[0]?.headers.authorization).toBe(`Bearer ${server.apiKey}`)
    expect(requests[0]?.headers['content-type']).toMatch(/^application\/json/)
    expect(server.submissions[0]?.body).toEqual({
      model: 'gpt-image-1.5',
      prompt: 'openai json edit',
      n: 1,
      size: '1024x1024',
      quality: 'auto',
      output_format: 'png',
      background: 'transparent',
      input_fidelity: 'high',
      moderation: 'low',
      images: [{ image_url: external }, { image_url: (await dataUrl(dir, 'refs/b.jpg', 'jpeg')).recorded }],
      mask: { image_url: (await dataUrl(dir, 'masks/m.png', 'png')).recorded },
    })
  })
})
