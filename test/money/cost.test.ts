/**
 * Cost in money (issue 13, part 4), through the real CLI against the fake provider server on
 * loopback: `plan` shows the estimate, `--max-spend` / `budget.maxSpend` refuse before any call
 * (0 submits), each run records its estimate, and `status --cost` reads what was spent.
 */
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { exists, runCli } from '../helpers.js'
import { FAST_SETTINGS, Resources, readRecords, serverEnv } from '../providers/harness.js'

const resources = new Resources()
afterEach(() => resources.release())

/** openai (built-in prices: high 1024x1024 is $0.133) and aa (no known price unless set). */
const RECIPES = {
  hero: { provider: 'openai', prompt: 'a hero shot', refs: ['refs/a.png'], n: 2 },
  sky: { provider: 'aa', prompt: 'a starry sky', refs: ['refs/a.png'] },
}

/** A project on the fake server with these recipes and top-level settings (`prices`, `budget`). */
async function setup(top: Record<string, unknown> = {}, recipes: Record<string, Record<string, unknown>> = RECIPES) {
  const server = await resources.server()
  const dir = await resources.project({ provider: 'openai', recipes: {} })
  const manifest = {
    version: 1,
    out: 'out',
    defaults: { ratio: '1:1', resolution: '1k', quality: 'high' },
    providers: { openai: FAST_SETTINGS, aa: FAST_SETTINGS },
    ...top,
    recipes,
  }
  await writeFile(join(dir, 'images.edit.yaml'), `${JSON.stringify(manifest, null, 2)}\n`)
  const env = serverEnv(server)
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 120_000 })
  return { server, dir, cli }
}

const storedRecords = async (dir: string) => (await readdir(join(dir, '.images-edit', 'records')).catch(() => [])).length

describe('plan shows what a run would cost', () => {
  it('per job and in total, naming the images with no known price and where to set one; --json has the same', async () => {
    const { server, cli } = await setup()
    const text = await cli('plan')
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^\+ hero: generate 2 images on openai \(paid\) ≈ \$0\.27$/m)
    expect(text.stdout).toMatch(/^\+ sky: generate 1 image on aa \(paid\) — no known price$/m)
    expect(text.stdout).toMatch(/^3 new paid images: ≈ \$0\.27 for 2 of them, 1 with no known price$/m)
    expect(text.stdout).toMatch(/output images only: the input tokens of the prompt and the reference images are billed on top/)
    expect(text.stdout).toMatch(/^1 image on aa\/gpt-image-1\.5 has no known price \(set prices\.aa\."gpt-image-1\.5" in images\.edit\.yaml\)$/m)

    const json = JSON.parse((await cli('plan', '--json')).stdout)
    expect(json.cost).toMatchObject({ currency: 'USD', paidImages: 3, pricedImages: 2, amount: 0.266, complete: false })
    expect(json.cost.unpriced).toEqual([{ provider: 'aa', model: 'gpt-image-1.5', images: 1, reason: 'no known price', setting: 'prices.aa."gpt-image-1.5"' }])
    expect(json.cost.note).toMatch(/input tokens/)
    const jobs = Object.fromEntries(json.jobs.map((job: { id: string; cost: unknown }) => [job.id, job.cost]))
    expect(jobs.hero).toEqual({ id: 'hero', paidImages: 2, currency: 'USD', perImage: 0.133, amount: 0.266, source: 'built-in' })
    expect(jobs.sky).toMatchObject({ paidImages: 1, unknown: { setting: 'prices.aa."gpt-image-1.5"' } })
    expect(server.submits()).toBe(0)
  })
})

describe('a spend budget refuses before any call', () => {
  it('--max-spend under the estimate: exit 3, nothing submitted or stored; at the estimate exactly, the run goes ahead', async () => {
    const { server, dir, cli } = await setup({}, { hero: RECIPES.hero })
    const refused = await cli('build', '--no-frozen', '--max-spend', '0.26')
    expect(refused.code, refused.stdout + refused.stderr).toBe(3)
    expect(refused.stderr).toMatch(/refused: this run would cost ≈ \$0\.27 for 2 paid images .*over --max-spend \$0\.26/)
    expect(refused.stderr).toMatch(/^ {2}hero: 2 new images/m)
    expect(server.submits()).toBe(0)
    expect(await storedRecords(dir)).toBe(0)
    expect(await exists(join(dir, 'out/hero-1.png'))).toBe(false)

    const json = await cli('build', '--no-frozen', '--max-spend', '0.1', '--json')
    expect(json.code).toBe(3)
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ type: 'refused', code: 'BUDGET', jobs: [{ id: 'hero', newImages: 2 }] })

    const exact = await cli('build', '--no-frozen', '--max-spend', '0.266')
    expect(exact.code, exact.stdout + exact.stderr).toBe(0)
    expect(exact.stdout).toMatch(/plan: 1 job — .*\(2 new images, 2 paid ≈ \$0\.27\)/)
    expect(server.submits()).toBe(1)
  })

  it('budget.maxSpend with a paid image of no known price: refused (the budget cannot be checked), saying what to set; priced, it runs', async () => {
    const { server, dir, cli } = await setup({ budget: { maxSpend: 5 } })
    const refused = await cli('build', '--no-frozen')
    expect(refused.code, refused.stdout + refused.stderr).toBe(3)
    expect(refused.stderr).toMatch(/refused: budget\.maxSpend is \$5\.00, but 1 of the 3 paid images has no known price, so the spend cannot be checked/)
    expect(refused.stderr).toMatch(/1 image on aa\/gpt-image-1\.5 has no known price \(set prices\.aa\."gpt-image-1\.5" in images\.edit\.yaml\)/)
    expect(refused.stderr).toMatch(/--max-images/)
    expect(server.submits()).toBe(0)
    expect(await storedRecords(dir)).toBe(0)
    // A free run is not refused: local costs nothing, so the budget holds without any price.
    expect((await cli('build', '--no-frozen', '--provider', 'local')).code).toBe(0)
    expect(server.submits()).toBe(0)

    const priced = await setup({ budget: { maxSpend: 5 }, prices: { aa: { 'gpt-image-1.5': 0.04 } } })
    const ran = await priced.cli('build', '--no-frozen')
    expect(ran.code, ran.stdout + ran.stderr).toBe(0)
    expect(ran.stdout).toMatch(/3 paid ≈ \$0\.31\)/)
    expect(priced.server.submits()).toBe(2)
  })

  it('--max-spend takes an amount; anything else is a usage error (exit 2), and watch does not take it', async () => {
    const { server, cli } = await setup()
    const bad = await cli('build', '--no-frozen', '--max-spend', '$5')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--max-spend must be an amount ≥ 0 in the manifest's prices\.currency \(default USD\), e\.g\. 2\.50; got "\$5"/)
    expect((await cli('watch', '--max-spend', '1')).stderr).toMatch(/--max-spend applies to `build` only/)
    expect(server.submits()).toBe(0)
  })
})

describe('status --cost', () => {
  it('after builds on openai and aa: images, estimates recorded per run, tokens as reported, money where rates are known, totals', async () => {
    const { dir, cli } = await setup(
      { prices: { aa: { 'gpt-image-1.5': { '*': 0.04 } } } },
      { ...RECIPES, offline: { provider: 'local', prompt: 'p', refs: ['refs/a.png'] } },
    )
    expect((await cli('build', '--no-frozen')).code).toBe(0)
    // A new take of hero (paid again): its cost is added to the recipe's.
    await cli('build', '--no-frozen', '--force', 'hero')
    const records = await readRecords(dir)
    const runs = records.flatMap((record) => record.takes.flatMap((take) => take.runs as { estimate?: unknown; job?: string }[]))
    expect(runs.filter((item) => item.job === 'hero').map((item) => item.estimate)).toEqual([
      { amount: 0.266, currency: 'USD' },
      { amount: 0.266, currency: 'USD' },
    ])
    expect(runs.find((item) => item.job === 'sky')?.estimate).toEqual({ amount: 0.04, currency: 'USD' })
    expect(runs.find((item) => item.job === 'offline')?.estimate).toBeUndefined()

    const text = await cli('status', '--cost')
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^hero {5}4 images · estimated ≈ \$0\.53 · reported [\d,]+ input \+ 4,224 output tokens ≈ \$0\.1\d$/m)
    expect(text.stdout).toMatch(
      /^sky {6}1 image · estimated ≈ \$0\.04 · reported [\d,]+ input \+ 1,056 output tokens; 1 run not in money \(aa\/gpt-image-1\.5: no token rates — set prices\.aa\."gpt-image-1\.5"\.tokens\)$/m,
    )
    expect(text.stdout).toMatch(/^offline {2}1 image \(0 paid\) · free \(local\)$/m)
    expect(text.stdout).toMatch(/^total {4}6 images \(5 paid\) · estimated ≈ \$0\.57 · reported /m)
    expect(text.stdout).toMatch(/input tokens .* billed on top/)

    const json = JSON.parse((await cli('status', '--cost', '--json')).stdout)
    const hero = json.cost.recipes.find((item: { recipe: string }) => item.recipe === 'hero')
    expect(hero).toMatchObject({ images: 4, paidImages: 4, estimated: [{ amount: 0.532, currency: 'USD' }], unestimatedImages: 0, tokens: { output: 4224 } })
    // Two OpenAI calls at the built-in token rates: what the fake server reported, in money.
    expect(hero.reported[0].currency).toBe('USD')
    expect(hero.reported[0].amount).toBeGreaterThan(2 * 2112 * 32e-6)
    expect(json.cost.total).toMatchObject({ images: 6, paidImages: 5, estimated: [{ amount: 0.572, currency: 'USD' }] })

    // Only the recipes asked for.
    const only = await cli('status', '--cost', 'sky')
    expect(only.stdout).not.toMatch(/^hero/m)
    expect(only.stdout).toMatch(/^total +1 image · estimated ≈ \$0\.04/m)
  })
})
