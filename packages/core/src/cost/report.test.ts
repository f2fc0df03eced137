/** `status --cost` from the store's records: attribution to recipes, estimates, reported usage, and records older than estimates. */
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers.js'
import type { LockFile } from '../lock/lock-file.js'
import { FileSystemStore } from '../store/fs-store.js'
import type { JobRecord, RunRecord } from '../store/store.js'
import { PriceTable } from './prices.js'
import { recipeCosts } from './report.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function store(): Promise<FileSystemStore> {
  const { dir, cleanup } = await tempDir('images-edit-cost-report-')
  cleanups.push(cleanup)
  return new FileSystemStore(dir)
}

const key = (digit: string) => digit.repeat(64)
const openaiUsage = { input_tokens: 266, output_tokens: 1056, input_tokens_details: { text_tokens: 10, image_tokens: 256 } }

function run(fields: Partial<RunRecord> & Pick<RunRecord, 'provider' | 'model' | 'count'>): RunRecord {
  return { at: '2026-12-01T00:00:00.000Z', firstIndex: 0, warnings: [], ...fields }
}

function record(recordKey: string, runs: RunRecord[][]): JobRecord {
  return {
    version: 1,
    key: recordKey,
    provider: runs[0]?.[0]?.provider ?? 'openai',
    model: runs[0]?.[0]?.model ?? 'gpt-image-1.5',
    selectedTake: runs.length,
    takes: runs.map((takeRuns, index) => ({ take: index + 1, images: [], runs: takeRuns })),
  }
}

const lock = (jobs: Record<string, string>): LockFile => ({
  lockfileVersion: 1,
  jobs: Object.fromEntries(Object.entries(jobs).map(([id, jobKey]) => [id, { key: jobKey } as LockFile['jobs'][string]])),
})

describe('recipeCosts', () => {
  it('sums every take of a recipe: images, estimates (exactly), reported tokens and their money', async () => {
    const results = await store()
    await results.putRecord(
      record(key('a'), [
        [run({ provider: 'openai', model: 'gpt-image-1.5', count: 2, estimate: { amount: 0.266, currency: 'USD' }, usage: openaiUsage })],
        [run({ provider: 'openai', model: 'gpt-image-1.5', count: 1, estimate: { amount: 0.034, currency: 'USD' }, usage: openaiUsage })],
      ]),
    )
    const report = await recipeCosts(results, [{ id: 'hero', recipe: 'hero', key: key('a') }], lock({}), new PriceTable())
    expect(report.recipes).toEqual([
      {
        recipe: 'hero',
        images: 3,
        paidImages: 3,
        estimated: [{ amount: 0.3, currency: 'USD' }],
        unestimatedImages: 0,
        tokens: { input: 532, output: 2112 },
        reported: [{ amount: 0.07178, currency: 'USD' }],
        unreportedRuns: 0,
        unreportedReasons: [],
        billedWithoutImages: 0,
      },
    ])
    expect(report.total).toMatchObject({ images: 3, estimated: [{ amount: 0.3, currency: 'USD' }] })
    expect(report.unattributed).toBeUndefined()
  })

  it('says what is not known: records older than estimates, usage without rates, no usage at all, a call billed without images', async () => {
    const results = await store()
    // A record written before estimates existed: no `estimate`, no `job`; it still reads.
    await results.putRecord(record(key('b'), [[run({ provider: 'aa', model: 'gpt-image-1.5', count: 1, usage: { input_tokens: 300, output_tokens: 1056 } })]]))
    await results.putRecord(
      record(key('c'), [
        [
          run({ provider: 'toapis', model: 'gpt-image-1.5-official', count: 2, usage: { images: 2 } }),
          run({ provider: 'toapis', model: 'gpt-image-1.5-official', count: 0, taskId: 't1' }),
        ],
      ]),
    )
    await results.putRecord(record(key('d'), [[run({ provider: 'local', model: 'local-preview', count: 2 })]]))
    const jobs = [
      { id: 'banner', recipe: 'banner', key: key('b') },
      { id: 'poster', recipe: 'poster', key: key('c') },
      { id: 'offline', recipe: 'offline', key: key('d') },
      { id: 'never', recipe: 'never', key: key('e') },
    ]
    const report = await recipeCosts(results, jobs, lock({}), new PriceTable())
    const byRecipe = Object.fromEntries(report.recipes.map((item) => [item.recipe, item]))
    expect(byRecipe.banner).toMatchObject({
      images: 1,
      estimated: [],
      unestimatedImages: 1,
      tokens: { input: 300, output: 1056 },
      reported: [],
      unreportedRuns: 1,
    })
    expect(byRecipe.banner?.unreportedReasons).toEqual(['aa/gpt-image-1.5: no token rates — set prices.aa."gpt-image-1.5".tokens'])
    expect(byRecipe.poster).toMatchObject({ images: 2, unestimatedImages: 2, unreportedRuns: 2, billedWithoutImages: 1 })
    expect(byRecipe.poster?.tokens).toBeUndefined()
    expect(byRecipe.offline).toMatchObject({ images: 2, paidImages: 0, unestimatedImages: 0, unreportedRuns: 0 })
    expect(byRecipe.never).toMatchObject({ images: 0, paidImages: 0 })
    // With rates for aa, its reported tokens become money (the split unknown, both input rates equal).
    const priced = await recipeCosts(
      results,
      jobs,
      lock({}),
      new PriceTable({ aa: { 'gpt-image-1.5': { tokens: { textInput: 4, imageInput: 4, imageOutput: 30 } } } }),
    )
    expect(priced.recipes.find((item) => item.recipe === 'banner')?.reported).toEqual([{ amount: 0.03288, currency: 'USD' }])
  })

  it('a record belongs to the recipe the manifest, else the lock, else its runs name; the rest is unattributed', async () => {
    const results = await store()
    await results.putRecord(record(key('1'), [[run({ provider: 'openai', model: 'gpt-image-1.5', count: 1, estimate: { amount: 0.1, currency: 'USD' } })]]))
    await results.putRecord(record(key('2'), [[run({ provider: 'openai', model: 'gpt-image-1.5', count: 1, estimate: { amount: 0.2, currency: 'USD' } })]]))
    await results.putRecord(
      record(key('3'), [[run({ provider: 'openai', model: 'gpt-image-1.5', count: 1, job: 'product/mug.jpg', estimate: { amount: 0.4, currency: 'USD' } })]]),
    )
    await results.putRecord(record(key('4'), [[run({ provider: 'openai', model: 'gpt-image-1.5', count: 1, estimate: { amount: 0.8, currency: 'EUR' } })]]))
    const jobs = [{ id: 'product/mug.jpg', recipe: 'product', key: key('9') }]
    const report = await recipeCosts(results, jobs, lock({ hero: key('1'), 'product/cup.jpg': key('2') }), new PriceTable())
    expect(report.recipes.map((item) => [item.recipe, item.estimated])).toEqual([
      ['hero', [{ amount: 0.1, currency: 'USD' }]],
      // 0.2 + 0.4, summed exactly (the float sum is 0.6000000000000001).
      ['product', [{ amount: 0.6, currency: 'USD' }]],
    ])
    expect(report.unattributed).toMatchObject({ images: 1, estimated: [{ amount: 0.8, currency: 'EUR' }] })
    // Currencies are never added together.
    expect(report.total.estimated).toEqual([
      { amount: 0.7, currency: 'USD' },
      { amount: 0.8, currency: 'EUR' },
    ])
    // Only the recipes asked for; nothing unattributed then.
    const hero = await recipeCosts(results, jobs, lock({ hero: key('1') }), new PriceTable(), ['hero'])
    expect(hero.recipes.map((item) => item.recipe)).toEqual(['hero'])
    expect(hero.unattributed).toBeUndefined()
  })
})
