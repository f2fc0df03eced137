import { describe, expect, it } from 'vitest'
import { RefusalError } from '../errors.js'
import type { Job } from '../manifest/job.js'
import type { Plan, PlannedJob } from '../plan/plan.js'
import { refuseSpend } from './budget.js'
import { costSummary, estimatePlan, imageEstimator } from './estimate.js'
import { formatMoney, MoneySum } from './money.js'
import { PriceTable } from './prices.js'
import { costLines, costText } from './wording.js'

/** A planned job with what the estimate reads: status, images to make, images being collected, and the job's price facts. */
function planned(
  id: string,
  fields: { provider: string; model: string; quality?: string; n: number; status?: PlannedJob['status']; collecting?: number },
): PlannedJob {
  const job = {
    id,
    recipe: id,
    provider: fields.provider,
    model: fields.model,
    paid: fields.provider !== 'local',
    params: { ratio: '1:1', resolution: '1k', quality: fields.quality ?? 'medium', format: 'png' },
    size: { width: 1024, height: 1024 },
  } as unknown as Job
  return { job, status: fields.status ?? 'generate', newImages: fields.n, collecting: fields.collecting ?? 0 } as unknown as PlannedJob
}

const plan = (...jobs: PlannedJob[]): Plan => ({ jobs, newImages: 0, paidImages: 0 })

describe('estimatePlan', () => {
  it('sums exactly: 3 × 0.034 is 0.102, 10 × 0.1 is 1, shown rounded to cents', () => {
    const cost = estimatePlan(plan(planned('a', { provider: 'openai', model: 'gpt-image-1.5', n: 3 })), new PriceTable())
    expect(cost.amount).toBe(0.102)
    expect(formatMoney({ amount: cost.amount, currency: cost.currency })).toBe('$0.10')
    const tens = plan(...Array.from({ length: 10 }, (_, index) => planned(`j${index}`, { provider: 'aa', model: 'm', n: 1 })))
    const dimes = estimatePlan(tens, new PriceTable({ aa: { m: 0.1 } }))
    expect(dimes.amount).toBe(1)
    // What adding the floats would give instead.
    expect(Array.from({ length: 10 }).reduce((sum: number) => sum + 0.1, 0)).not.toBe(1)
    expect(dimes).toMatchObject({ paidImages: 10, pricedImages: 10, complete: true, unpriced: [] })
  })

  it('counts only images paid for now: not fresh jobs, not journaled images being collected, not local', () => {
    const cost = estimatePlan(
      plan(
        planned('fresh', { provider: 'openai', model: 'gpt-image-1.5', n: 0, status: 'fresh' }),
        planned('collecting', { provider: 'openai', model: 'gpt-image-1.5', n: 3, collecting: 2 }),
        planned('offline', { provider: 'local', model: 'local-preview', n: 4 }),
        planned('blocked', { provider: 'openai', model: 'gpt-image-1.5', n: 2, status: 'blocked' }),
      ),
      new PriceTable(),
    )
    expect(cost).toMatchObject({ paidImages: 1, pricedImages: 1, amount: 0.034, complete: true })
    expect(cost.jobs).toEqual([{ id: 'collecting', paidImages: 1, currency: 'USD', perImage: 0.034, amount: 0.034, source: 'built-in' }])
  })

  it('images with no known price are grouped by provider, model and reason, and left out of the amount', () => {
    const cost = estimatePlan(
      plan(
        planned('a', { provider: 'openai', model: 'gpt-image-1.5', quality: 'high', n: 4 }),
        planned('b', { provider: 'aa', model: 'gpt-image-1.5', n: 1 }),
        planned('c', { provider: 'aa', model: 'gpt-image-1.5', n: 1 }),
        planned('d', { provider: 'openai', model: 'gpt-image-1.5', quality: 'auto', n: 1 }),
      ),
      new PriceTable(),
    )
    expect(cost).toMatchObject({ paidImages: 7, pricedImages: 4, amount: 0.532, complete: false })
    expect(cost.unpriced).toEqual([
      { provider: 'aa', model: 'gpt-image-1.5', images: 2, reason: 'no known price', setting: 'prices.aa."gpt-image-1.5"' },
      { provider: 'openai', model: 'gpt-image-1.5', images: 1, reason: expect.stringMatching(/quality auto/), setting: 'prices.openai."gpt-image-1.5".auto' },
    ])
    expect(cost.jobs.find((item) => item.id === 'b')).toEqual({
      id: 'b',
      paidImages: 1,
      currency: 'USD',
      unknown: { reason: 'no known price', setting: 'prices.aa."gpt-image-1.5"' },
    })
    expect(costText(cost)).toBe('≈ $0.53 for 4 of them, 3 with no known price')
    const lines = costLines(costSummary(cost), 'images.edit.yaml')
    expect(lines.head).toBe('7 new paid images: ≈ $0.53 for 4 of them, 3 with no known price')
    expect(lines.note).toMatch(/output images only: the input tokens of the prompt and the reference images are billed on top/)
    expect(lines.unpriced[0]).toBe('2 images on aa/gpt-image-1.5 have no known price (set prices.aa."gpt-image-1.5" in images.edit.yaml)')
    expect(lines.unpriced[1]).toMatch(
      /^1 image on openai\/gpt-image-1.5 has no known price: quality auto .* \(set prices.openai."gpt-image-1.5".auto in images.edit.yaml\)$/,
    )
  })

  it('the brief’s example: 4 new images ≈ $0.76', () => {
    const cost = estimatePlan(plan(planned('hero', { provider: 'aa', model: 'm', n: 4 })), new PriceTable({ aa: { m: 0.19 } }))
    expect(costLines(costSummary(cost), 'images.edit.yaml').head).toBe('4 new paid images ≈ $0.76')
    expect(costLines(costSummary(estimatePlan(plan(), new PriceTable())), 'images.edit.yaml').head).toBe('cost: nothing to pay (no paid images)')
  })

  it('the estimate recorded with a run: images × price, undefined when free or unknown', () => {
    const estimate = imageEstimator(new PriceTable())
    expect(estimate(planned('a', { provider: 'openai', model: 'gpt-image-1.5', n: 1 }).job, 3)).toEqual({ amount: 0.102, currency: 'USD' })
    expect(estimate(planned('a', { provider: 'aa', model: 'gpt-image-1.5', n: 1 }).job, 3)).toBeUndefined()
    expect(estimate(planned('a', { provider: 'local', model: 'local-preview', n: 1 }).job, 3)).toBeUndefined()
  })
})

describe('money', () => {
  it('is shown to the currency’s smallest unit, never as free when it is not', () => {
    expect(formatMoney({ amount: 0.005, currency: 'USD' })).toBe('$0.01')
    expect(formatMoney({ amount: 0.004, currency: 'USD' })).toBe('< $0.01')
    expect(formatMoney({ amount: 0, currency: 'USD' })).toBe('$0.00')
    expect(formatMoney({ amount: 1234.5, currency: 'EUR' })).toBe('€1,234.50')
    expect(formatMoney({ amount: 12.4, currency: 'JPY' })).toBe('¥12')
  })

  it('sums per currency, exactly', () => {
    const sum = new MoneySum()
    for (let index = 0; index < 3; index++) sum.add({ amount: 0.034, currency: 'USD' })
    sum.add({ amount: 1.2, currency: 'EUR' })
    sum.add(undefined)
    expect(sum.list()).toEqual([
      { amount: 0.102, currency: 'USD' },
      { amount: 1.2, currency: 'EUR' },
    ])
    expect(sum.text()).toBe('$0.10 + €1.20')
    expect(new MoneySum().text()).toBeUndefined()
  })
})

describe('refuseSpend', () => {
  const cost = (amount: number, paidImages: number, pricedImages = paidImages) =>
    costSummary({
      currency: 'USD',
      amount,
      paidImages,
      pricedImages,
      complete: paidImages === pricedImages,
      unpriced:
        pricedImages < paidImages
          ? [{ provider: 'aa', model: 'gpt-image-1.5', images: paidImages - pricedImages, reason: 'no known price', setting: 'prices.aa."gpt-image-1.5"' }]
          : [],
      jobs: [],
    })
  const limit = (amount: number) => ({ amount, from: '--max-spend' as const, manifestName: 'images.edit.yaml' })
  const jobs = () => [{ id: 'hero', reason: 'new recipe', newImages: 4 }]
  const refusal = (fn: () => void) => {
    try {
      fn()
    } catch (error) {
      return error
    }
    return undefined
  }

  it('an estimate at the limit runs (compared exactly); above it is refused with the amount', () => {
    expect(() => refuseSpend(cost(0.102, 3), limit(0.102), jobs)).not.toThrow()
    const error = refusal(() => refuseSpend(cost(0.76, 4), limit(0.75), jobs))
    expect(error).toBeInstanceOf(RefusalError)
    expect(error).toMatchObject({ code: 'BUDGET', jobs: jobs() })
    expect((error as Error).message).toMatch(/would cost ≈ \$0\.76 for 4 paid images .* over --max-spend \$0\.75\. Raise --max-spend \(or budget\.maxSpend\)/)
  })

  it('paid images with no known price refuse the run: the budget cannot be checked', () => {
    const error = refusal(() => refuseSpend(cost(0.1, 3, 1), limit(100), jobs))
    expect(error).toMatchObject({ code: 'BUDGET' })
    expect((error as Error).message).toMatch(/--max-spend is \$100\.00, but 2 of the 3 paid images have no known price, so the spend cannot be checked/)
    expect((error as Error).message).toMatch(/set prices\.aa\."gpt-image-1\.5" in images\.edit\.yaml.*--max-images/)
  })

  it('nothing paid: nothing to refuse, even at a limit of 0', () => {
    expect(() => refuseSpend(cost(0, 0), limit(0), jobs)).not.toThrow()
  })
})
