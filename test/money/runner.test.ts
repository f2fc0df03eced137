/**
 * The runner keeps what was paid for (issue 9, points 1, 5, 6, 8, 9, 17): a journal it cannot
 * write, undecodable or odd results, downloads refused inside the URL's lifetime, more URLs than
 * asked, statuses nobody documented, and secrets echoed back. Each case runs the real CLI against
 * a scripted toapis server on loopback and counts submits there.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { imageInfo, makeImage, readLockFile, runCli } from '../helpers.js'
import { journalFiles, Resources, readRecords } from '../providers/harness.js'
import { completed, type HostileScript, startHostile } from './hostile-toapis.js'

const KEY = 'sk-hostile-0123456789abcdef0123456789'
const resources = new Resources()
afterEach(() => resources.release())

async function setup(script: HostileScript, recipe: Record<string, unknown> = {}, settings: Record<string, unknown> = {}) {
  const server = await startHostile(script)
  resources.add(() => server.close())
  const dir = await resources.project({
    provider: 'toapis',
    recipes: { hero: { prompt: 'a hero shot', refs: ['refs/a.png'], name: 'hero.png', ...recipe } },
    settings,
  })
  const env = { TOAPIS_API_KEY: KEY, IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrl }
  const build = (...args: string[]) => runCli(['build', '--no-frozen', ...args], { cwd: dir, env, timeoutMs: 120_000 })
  return { server, dir, env, build }
}

const good = () => makeImage({ width: 1024, height: 1024 })

describe('the runner keeps what was paid for', () => {
  it('a journal that cannot be written: the task is kept in memory, collected, and the warning names it (1)', async () => {
    const bytes = await good()
    const { server, dir, build } = await setup({ poll: (_n, _id, s) => completed([s.file('r1.png', bytes)]) })
    // A file where the journal folder should be: every write into it fails, even for root.
    await mkdir(join(dir, '.images-edit'), { recursive: true })
    await writeFile(join(dir, '.images-edit', 'journal'), 'a file, not a folder')
    const first = await build()
    expect(first.stdout + first.stderr).toMatch(/could not write the journal[^\n]*toapis task tsk_1/)
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(server.counts.submit).toBe(1)
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ width: 1024, height: 1024 })
    const again = await build()
    expect(again.code).toBe(0)
    expect(server.counts.submit).toBe(1)
  })

  it('an undecodable result (valid PNG header, garbage data) is not pinned; its task stays journaled and a rerun collects it without paying (5)', async () => {
    const bytes = await good()
    const garbage = Buffer.concat([bytes.subarray(0, 64), Buffer.alloc(bytes.length - 64, 0x5a)])
    let serveGarbage = true
    const { server, dir, build } = await setup({
      poll: (_n, _id, s) => completed([s.file('r1.png', bytes)]),
      download: () => (serveGarbage ? { headers: { 'content-type': 'image/png' }, body: garbage } : undefined),
    })
    const first = await build()
    expect(first.code).toBe(1)
    expect(first.stdout + first.stderr).toMatch(/not a decodable image[^\n]*billed[^\n]*tsk_1 stays journaled/)
    expect(await journalFiles(dir)).toHaveLength(1)
    expect((await readRecords(dir)).flatMap((record) => record.takes.flatMap((take) => take.images))).toHaveLength(0)
    serveGarbage = false
    const second = await build()
    expect(second.code, second.stderr).toBe(0)
    expect(server.counts.submit).toBe(1)
    expect(await journalFiles(dir)).toHaveLength(0)
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ width: 1024, height: 1024, format: 'png' })
  })

  it('a result of another size is kept with a warning and its real size recorded; another format is converted locally (6)', async () => {
    const small = await makeImage({ width: 512, height: 512 })
    const jpeg = await makeImage({ width: 1024, height: 1024, format: 'jpeg' })
    const { server, dir, build } = await setup({ poll: (_n, id, s) => completed([s.file(`${id}.img`, id === 'tsk_1' ? small : jpeg)]) }, { n: 1 })
    const first = await build()
    const count = server.counts.submit
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout + first.stderr).toMatch(/returned 512×512 instead of 1024×1024; kept/)
    expect((await readLockFile(dir)).jobs.hero?.outputs[0]).toMatchObject({ width: 512, height: 512 })
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ width: 512, height: 512 })
    // A rerun is up to date: the odd size is the result, not a reason to pay again.
    const again = await build()
    expect(again.code).toBe(0)
    expect(server.counts.submit).toBe(count)
    // A new take answered in JPEG for a PNG request: converted, not thrown away.
    const forced = await build('--force', 'hero')
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stdout + forced.stderr).toMatch(/returned jpeg instead of png; converted locally/)
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ format: 'png', width: 1024 })
    expect(server.counts.submit).toBe(count + 1)
  })

  it('a download refused (403) inside the URL lifetime keeps the task journaled; the rerun downloads it, not paid again (6)', async () => {
    const bytes = await good()
    let refuse = true
    const { server, dir, build } = await setup({
      poll: (_n, _id, s) => completed([s.file('r1.png', bytes)]),
      download: () => (refuse ? { status: 403, body: '<Error><Code>AccessDenied</Code></Error>' } : undefined),
    })
    const first = await build()
    expect(first.code).toBe(1)
    expect(first.stdout + first.stderr).toMatch(/stays journaled/)
    expect(first.stderr).toMatch(/billed without a stored result:\n\s+hero: billed \(task tsk_1\)/)
    expect(await journalFiles(dir)).toHaveLength(1)
    refuse = false
    const second = await build()
    expect(second.code, second.stderr).toBe(0)
    expect(server.counts.submit).toBe(1)
  })

  it('a poll naming 200 URLs for n = 1 downloads one, and says so (9)', async () => {
    const bytes = await good()
    const { server, build } = await setup({
      poll: (_n, _id, s) => completed(Array.from({ length: 200 }, (_, index) => s.file(`r${index}.png`, bytes))),
    })
    const result = await build()
    expect(result.code, result.stderr).toBe(0)
    expect(server.counts.download).toBe(1)
    expect(result.stdout + result.stderr).toMatch(/returned 200 images for a request of 1; only the first 1 were downloaded/)
  })

  it('fewer images than asked are kept; the rerun asks only for the missing ones (9)', async () => {
    const one = await good()
    const { server, dir, build } = await setup({ poll: (_n, id, s) => completed([s.file(`${id}.png`, one)]) }, { n: 2, name: 'hero-{index}.png' })
    const first = await build()
    expect(first.code).toBe(1)
    expect(first.stdout + first.stderr).toMatch(/returned 1 image for a request of 2; they are kept/)
    expect(server.submits[0]?.n).toBe(2)
    const second = await build()
    expect(second.code, second.stderr).toBe(0)
    expect(server.submits.map((body) => body.n)).toEqual([2, 1])
    expect(await imageInfo(join(dir, 'out/hero-2.png'))).toMatchObject({ width: 1024 })
  })

  it('a status nobody documented ends polling after a bounded time, keeping the task id (8)', async () => {
    const { server, dir, build } = await setup(
      { poll: () => ({ body: { id: 'tsk_1', status: 'mystery_state', progress: 10 } }) },
      {},
      // A long task timeout, as users have: only the unknown-status bound may end this.
      { taskTimeoutMs: 600_000, pollIntervalMs: 50 },
    )
    const result = await build()
    expect(result.code).toBe(1)
    expect(result.stdout + result.stderr).toMatch(/status "mystery_state", which images-edit does not know/)
    expect(await journalFiles(dir)).toHaveLength(1)
    expect(server.counts.submit).toBe(1)
  })

  it('a key echoed back in a task id or revised prompt is not stored in the records (17)', async () => {
    const bytes = await good()
    const { dir, build } = await setup({
      submit: () => ({ body: { id: `tsk_${KEY}`, status: 'queued' } }),
      poll: (_n, _id, s) => completed([s.file('r1.png', bytes)], { revised_prompt: `a hero shot (key ${KEY})` }),
    })
    const result = await build()
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout + result.stderr).not.toContain(KEY.slice(3))
    const records = await Promise.all(
      (await readRecords(dir)).map(async (record) => readFile(join(dir, '.images-edit', 'records', `${record.key}.json`), 'utf8')),
    )
    expect(records.join('\n')).not.toContain(KEY.slice(3))
    expect(records.join('\n')).toContain('[redacted]')
  })
})
