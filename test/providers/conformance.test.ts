/**
 * One conformance suite, run unchanged for every hosted provider against the fake server through
 * `openProject().build` (like unjs/unstorage's testDriver): what the provider is must not change
 * what a build promises.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { imageInfo, readLockFile } from '../helpers.js'
import { build, HOSTED, type Hosted, journalFiles, PAID_ROUTE, Resources, readRecords, serverEnv, writeManifest } from './harness.js'

const resources = new Resources()
afterEach(() => resources.release())

/** What each provider reports back, per the contract. */
const REPORTS: Record<Hosted, { taskId: RegExp; usage: boolean }> = {
  // toapis: task id from submit; the poll answer carries no usage.
  toapis: { taskId: /^tsk_img_/, usage: false },
  // aa: data.task_id and data.usage.
  aa: { taskId: /^task_/, usage: true },
  // openai: usage in the body; the request id (x-request-id) stands in for a task id.
  openai: { taskId: /^req_/, usage: true },
}

describe.each(HOSTED)('conformance: %s', (provider) => {
  const recipes = (n: number) => ({
    poster: { prompt: 'conformance poster: blend the two references', refs: ['refs/a.png', 'refs/b.jpg'], mask: 'masks/m.png', n, ratio: '3:2' },
    square: { prompt: 'conformance square jpeg', refs: ['refs/b.jpg'], format: 'jpeg', compression: 80 },
  })

  it('2 refs + mask + n=2: exact size and format, record with task id/usage, one submit per job; rebuild is silent; n 2→3 pays for one image', async () => {
    const server = await resources.server()
    const manifest = { provider, recipes: recipes(2) }
    const dir = await resources.project(manifest)
    const env = serverEnv(server)

    const first = await build(dir, env)
    expect(first.result.failed).toEqual([])
    expect(first.result.done.sort()).toEqual(['poster', 'square'])

    // Exact pixel size and format of every output, read back with sharp.
    expect(await imageInfo(join(dir, 'out/poster-1.png'))).toEqual({ width: 1536, height: 1024, format: 'png' })
    expect(await imageInfo(join(dir, 'out/poster-2.png'))).toEqual({ width: 1536, height: 1024, format: 'png' })
    expect(await imageInfo(join(dir, 'out/square.jpg'))).toEqual({ width: 1024, height: 1024, format: 'jpeg' })

    // One accepted paid submission per job, asking for the job's n.
    expect(server.submits('conformance poster')).toBe(1)
    expect(server.submits('conformance square')).toBe(1)
    expect(server.submissions.find((item) => item.prompt.startsWith('conformance poster'))?.n).toBe(2)
    expect(server.requestCount(PAID_ROUTE[provider])).toBe(2)

    // The record of each job names the provider's task id, and usage where the provider reports it.
    const records = await readRecords(dir)
    expect(records).toHaveLength(2)
    for (const record of records) {
      expect(record.provider).toBe(provider)
      const run = record.takes[0]?.runs[0]
      expect(run?.taskId).toMatch(REPORTS[provider].taskId)
      if (REPORTS[provider].usage) expect(run?.usage).toEqual(expect.objectContaining({ total_tokens: expect.any(Number) }))
      else expect(run?.usage).toBeUndefined()
    }
    const poster = records.find((record) => record.takes[0]?.images.length === 2)
    expect(poster?.takes[0]?.images.map((image) => [image.width, image.height, image.format])).toEqual([
      [1536, 1024, 'png'],
      [1536, 1024, 'png'],
    ])
    if (provider === 'toapis') {
      const taskIds = server.submissions.map((item) => item.taskId).sort()
      expect(records.map((record) => record.takes[0]?.runs[0]?.taskId).sort()).toEqual(taskIds)
    }
    expect(await journalFiles(dir)).toEqual([])
    const lock = await readLockFile(dir)
    expect(lock.jobs.poster?.outputs.map((output) => output.path)).toEqual(['out/poster-1.png', 'out/poster-2.png'])

    // A second build talks to nobody.
    const before = server.requests.length
    const second = await build(dir, env)
    expect(second.result.fresh.sort()).toEqual(['poster', 'square'])
    expect(second.result.done).toEqual([])
    expect(server.requests.length).toBe(before)

    // Growing n from 2 to 3: exactly one more paid request, for one image; the first two stay.
    const pinned = lock.jobs.poster?.outputs.map((output) => output.sha256)
    await writeManifest(dir, { ...manifest, recipes: recipes(3) })
    const third = await build(dir, env)
    expect(third.result.failed).toEqual([])
    expect(third.result.done).toEqual(['poster'])
    expect(server.submits('conformance poster')).toBe(2)
    expect(server.submits('conformance square')).toBe(1)
    expect(server.submissions.at(-1)?.n).toBe(1)
    expect(await imageInfo(join(dir, 'out/poster-3.png'))).toEqual({ width: 1536, height: 1024, format: 'png' })
    const grown = await readLockFile(dir)
    expect(grown.jobs.poster?.outputs.slice(0, 2).map((output) => output.sha256)).toEqual(pinned)
    expect(grown.jobs.poster?.outputs).toHaveLength(3)
    const record = (await readRecords(dir)).find((item) => item.takes[0]?.images.length === 3)
    expect(record?.takes[0]?.runs.map((run) => [run.firstIndex, run.count])).toEqual([
      [0, 2],
      [2, 1],
    ])
  })
})
