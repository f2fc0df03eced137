/**
 * Before anything is paid, every ref of a paid job is decoded in full (build/refuse.ts). A
 * catalogue has thousands: the decodes run side by side in the pixel child (PIXEL_SLOTS at once),
 * not one IPC round trip after another, and a damaged ref among them is still found and named.
 */
import { PIXEL_SLOTS, pixelTask } from '@images-edit/core/internal'
import sharp from 'sharp'
import { afterEach, describe, expect, it } from 'vitest'
import { writeFiles } from '../helpers.js'
import { build, Resources, serverEnv } from './harness.js'

const resources = new Resources()
afterEach(() => resources.release())

const JOBS = 8

/** A distinct 512² noise PNG: big enough that its decode is still running when the next arrives. */
function noisePng(): Promise<Buffer> {
  return sharp({ create: { width: 512, height: 512, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 50 } } })
    .png({ compressionLevel: 1 })
    .toBuffer()
}

describe('paid input checks', () => {
  it('decode every paid ref side by side, and a truncated one is refused with nothing paid', async () => {
    const server = await resources.server()
    const recipes: Record<string, Record<string, unknown>> = {}
    for (let job = 0; job < JOBS; job++) recipes[`p${job}`] = { prompt: `product ${job}`, refs: [`refs/p${job}.png`] }
    const dir = await resources.project({ provider: 'toapis', concurrency: JOBS, settings: { concurrency: JOBS }, recipes })
    const refs: Record<string, Buffer> = {}
    for (let job = 0; job < JOBS; job++) refs[`refs/p${job}.png`] = await noisePng()
    // The last one cut short: its header is sound, so only the full decode finds it.
    const whole = refs[`refs/p${JOBS - 1}.png`] as Buffer
    refs[`refs/p${JOBS - 1}.png`] = whole.subarray(0, Math.floor(whole.length / 2))
    await writeFiles(dir, refs)

    const before = await pixelTask<{ peak: number; done: number }>({ op: 'stats' })
    expect(before.done).toBe(0)
    await expect(build(dir, serverEnv(server))).rejects.toThrow(/cannot be decoded/)
    const after = await pixelTask<{ peak: number; done: number }>({ op: 'stats' })
    expect(after.done).toBe(JOBS)
    // Awaiting each decode before starting the next kept the child at one at a time.
    expect(after.peak).toBe(PIXEL_SLOTS)
    expect(server.submits()).toBe(0)
    expect(server.requestCount('toapis.upload')).toBe(0)
  })
})
