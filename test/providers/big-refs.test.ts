/**
 * Big local refs on toapis (over its 10 MB upload limit): re-encoded to JPEG in the pixel child,
 * at most PIXEL_SLOTS at once however many jobs run, and the uploaded bytes are exactly the JPEG
 * the documented pipeline makes (upload URLs are cached by the ref's sha256, so these bytes must
 * not drift between versions).
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PIXEL_SLOTS, pixelTask } from '@images-edit/core/internal'
import sharp from 'sharp'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir, writeFiles } from '../helpers.js'
import { build, Resources, requestsOn, serverEnv } from './harness.js'

const resources = new Resources()
afterEach(() => resources.release())

const LIMIT = 10 * 1024 * 1024
const JOBS = 6

/** A PNG of gaussian noise (random each call, so every ref is distinct): ~11.4 MB, over the limit. */
async function bigPng(): Promise<Buffer> {
  return sharp({ create: { width: 2100, height: 1800, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png({ compressionLevel: 1 })
    .toBuffer()
}

describe('big refs on toapis', () => {
  it(`${JOBS} jobs with a ref over 10 MB each: never more than PIXEL_SLOTS re-encodes at once, each upload the same JPEG bytes as before`, {
    timeout: 180_000,
  }, async () => {
    const server = await resources.server()
    const recipes: Record<string, Record<string, unknown>> = {}
    for (let job = 0; job < JOBS; job++) recipes[`big${job}`] = { prompt: `big ref ${job}`, refs: [`refs/big${job}.png`], quality: 'low' }
    const dir = await resources.project({ provider: 'toapis', concurrency: JOBS, settings: { concurrency: JOBS, timeoutMs: 60_000 }, recipes })
    const refs: Record<string, Buffer> = {}
    for (let job = 0; job < JOBS; job++) refs[`refs/big${job}.png`] = await bigPng()
    for (const bytes of Object.values(refs)) expect(bytes.length).toBeGreaterThan(LIMIT)
    await writeFiles(dir, refs)
    // The re-encodes land in the temporary folder: an empty one of this test's own, checked after.
    const tmp = await tempDir('images-edit-big-tmp-')
    resources.add(tmp.cleanup)
    const before = await pixelTask<{ peak: number; done: number }>({ op: 'stats' })
    const savedTmp = process.env.TMPDIR
    process.env.TMPDIR = tmp.dir
    try {
      const { result } = await build(dir, serverEnv(server))
      expect(result.failed).toEqual([])
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = savedTmp
    }

    // Seen from the child that does the work: it never ran more than the bound at once, and it
    // ran every full decode (one per ref, before anything is paid) and every re-encode.
    const after = await pixelTask<{ peak: number; done: number }>({ op: 'stats' })
    expect(after.done - before.done).toBe(2 * JOBS)
    expect(after.peak).toBeLessThanOrEqual(PIXEL_SLOTS)
    expect(await readdir(tmp.dir)).toEqual([])

    expect(server.submits()).toBe(JOBS)
    const uploads = requestsOn(server, 'toapis.upload')
    expect(uploads).toHaveLength(JOBS)
    expect(uploads.every((request) => request.status === 200)).toBe(true)
    // Each job's uploaded ref, fetched back from the URL the server issued for it.
    for (const entry of server.rawBodies.filter((body) => body.route === 'toapis.submit')) {
      const body = entry.body as { prompt: string; image_urls: string[] }
      const job = /big ref (\d+)/.exec(body.prompt)?.[1]
      const uploaded = Buffer.from(await (await fetch(body.image_urls[0] as string)).arrayBuffer())
      const expected = await sharp(join(dir, `refs/big${job}.png`))
        .rotate()
        .flatten({ background: '#ffffff' })
        .jpeg({ quality: 90, optimiseCoding: false })
        .toBuffer()
      expect(uploaded.length).toBeLessThanOrEqual(LIMIT)
      expect(uploaded.equals(expected)).toBe(true)
    }
  })
})
