import { describe, expect, it } from 'vitest'
import type { JobParams } from '../manifest/job.js'
import type { PixelSize } from '../providers/provider.js'
import type { PriceSettings } from './price-types.js'
import { type PricedJob, PriceTable } from './prices.js'

/** A job as the price lookup reads it (`size: null`: not known in advance, as for `ratio: auto`). */
function job(provider: string, model: string, params: Partial<JobParams> = {}, size: PixelSize | null = { width: 1024, height: 1024 }): PricedJob {
  return {
    provider: provider as PricedJob['provider'],
    model,
    paid: provider !== 'local',
    params: { ratio: '1:1', resolution: '1k', quality: 'high', format: 'png', ...params },
    ...(size ? { size } : {}),
  }
}

const price = (table: PriceTable, priced: PricedJob) => {
  const answer = table.perImage(priced)
  return answer.known ? answer.nanos / 1e9 : answer
}

describe('built-in prices', () => {
  const table = new PriceTable()

  it('OpenAI per output image, by quality and the pixel size requested', () => {
    expect(price(table, job('openai', 'gpt-image-1.5', { quality: 'low' }))).toBe(0.009)
    expect(price(table, job('openai', 'gpt-image-1.5', { quality: 'medium' }))).toBe(0.034)
    expect(price(table, job('openai', 'gpt-image-1.5', { quality: 'high' }))).toBe(0.133)
    expect(price(table, job('openai', 'gpt-image-1.5', { quality: 'high', ratio: '3:2' }, { width: 1536, height: 1024 }))).toBe(0.2)
    expect(price(table, job('openai', 'gpt-image-1.5', { quality: 'medium', ratio: '2:3' }, { width: 1024, height: 1536 }))).toBe(0.05)
    expect(price(table, job('openai', 'gpt-image-1', { quality: 'low' }))).toBe(0.011)
    expect(price(table, job('openai', 'gpt-image-1', { quality: 'high', ratio: '3:2' }, { width: 1536, height: 1024 }))).toBe(0.25)
    expect(table.perImage(job('openai', 'gpt-image-1.5'))).toMatchObject({ known: true, source: 'built-in' })
  })

  it('quality auto and ratio auto have no price, and say why and what to set', () => {
    expect(table.perImage(job('openai', 'gpt-image-1.5', { quality: 'auto' }))).toEqual({
      known: false,
      reason: expect.stringMatching(/^quality auto has no single price/),
      setting: 'prices.openai."gpt-image-1.5".auto',
    })
    expect(table.perImage(job('openai', 'gpt-image-1.5', { ratio: 'auto' }, null))).toEqual({
      known: false,
      reason: expect.stringMatching(/^ratio auto: the size is the service's choice/),
      setting: 'prices.openai."gpt-image-1.5".high."*"',
    })
  })

  it('toapis, aa and models nobody priced have no known price (never a guess)', () => {
    for (const [provider, model, setting] of [
      ['toapis', 'gpt-image-1.5-official', 'prices.toapis."gpt-image-1.5-official"'],
      ['aa', 'gpt-image-1.5', 'prices.aa."gpt-image-1.5"'],
      ['openai', 'gpt-image-1-mini', 'prices.openai.gpt-image-1-mini'],
    ] as const) {
      expect(table.perImage(job(provider, model)), `${provider}/${model}`).toEqual({ known: false, reason: 'no known price', setting })
    }
  })

  it('local is free', () => {
    expect(table.perImage(job('local', 'local-preview'))).toEqual({ known: true, nanos: 0, source: 'free' })
  })
})

describe('manifest prices', () => {
  const table = (settings: PriceSettings) => new PriceTable(settings)

  it('a number prices every image of the model', () => {
    const prices = table({ aa: { 'gpt-image-1.5': 0.03 } })
    expect(price(prices, job('aa', 'gpt-image-1.5', { quality: 'low' }))).toBe(0.03)
    expect(prices.perImage(job('aa', 'gpt-image-1.5'))).toMatchObject({ source: 'manifest' })
  })

  it('nested keys match in any order, and a level keyed by resolution, ratio or size picks the job’s', () => {
    const byQualityThenSize = table({ toapis: { m: { high: { '2048x2048': 0.1, '*': 0.05 }, low: 0.01 } } })
    const bySizeThenQuality = table({ toapis: { m: { '2048x2048': { high: 0.1 }, '*': { high: 0.05, low: 0.01 } } } })
    const big = job('toapis', 'm', { resolution: '2k' }, { width: 2048, height: 2048 })
    for (const prices of [byQualityThenSize, bySizeThenQuality]) {
      expect(price(prices, big)).toBe(0.1)
      expect(price(prices, job('toapis', 'm'))).toBe(0.05)
      expect(price(prices, job('toapis', 'm', { quality: 'low' }))).toBe(0.01)
    }
    const byResolution = table({ toapis: { m: { '1k': 0.02, '2k': 0.04, '4k': 0.08 } } })
    expect(price(byResolution, job('toapis', 'm', { resolution: '4k', ratio: '16:9' }, { width: 3840, height: 2160 }))).toBe(0.08)
    const byRatio = table({ toapis: { m: { '16:9': { '*': 0.07 }, '*': 0.02 } } })
    expect(price(byRatio, job('toapis', 'm', { ratio: '16:9' }, { width: 1536, height: 864 }))).toBe(0.07)
    expect(price(byRatio, job('toapis', 'm', { ratio: '3:2' }, { width: 1536, height: 1024 }))).toBe(0.02)
  })

  it('a job no key matches has no price: the reason names the fact and the key to add', () => {
    const prices = table({ toapis: { m: { '1k': 0.02 } } })
    expect(prices.perImage(job('toapis', 'm', { resolution: '2k' }, { width: 2048, height: 2048 }))).toEqual({
      known: false,
      reason: 'no price for resolution "2k" of toapis/m',
      setting: 'prices.toapis.m.2k',
    })
    const nested = table({ toapis: { m: { high: { '1024x1024': 0.1 } } } })
    expect(nested.perImage(job('toapis', 'm', {}, { width: 1536, height: 1024 }))).toMatchObject({ setting: 'prices.toapis.m.high.1536x1024' })
  })

  it('overrides a built-in price where it has one, and falls back to it elsewhere', () => {
    const prices = table({ openai: { 'gpt-image-1.5': { high: { '1024x1024': 0.12 } } } })
    expect(price(prices, job('openai', 'gpt-image-1.5'))).toBe(0.12)
    expect(prices.perImage(job('openai', 'gpt-image-1.5'))).toMatchObject({ source: 'manifest' })
    expect(price(prices, job('openai', 'gpt-image-1.5', { quality: 'low' }))).toBe(0.009)
    expect(prices.perImage(job('openai', 'gpt-image-1.5', { quality: 'low' }))).toMatchObject({ source: 'built-in' })
    // An `auto` key of its own prices what the built-in table cannot.
    expect(price(table({ openai: { 'gpt-image-1.5': { auto: 0.2 } } }), job('openai', 'gpt-image-1.5', { quality: 'auto' }))).toBe(0.2)
  })

  it('another currency: the built-in (USD) prices do not apply, the manifest’s do', () => {
    const euros = table({ currency: 'EUR', aa: { 'gpt-image-1.5': 0.03 } })
    expect(euros.currency).toBe('EUR')
    expect(euros.perImage(job('openai', 'gpt-image-1.5'))).toEqual({
      known: false,
      reason: 'the built-in prices are in USD, and prices.currency is EUR',
      setting: 'prices.openai."gpt-image-1.5"',
    })
    expect(price(euros, job('aa', 'gpt-image-1.5'))).toBe(0.03)
    expect(euros.tokenRates('openai', 'gpt-image-1.5')).toBeUndefined()
  })

  it('token rates: the manifest’s, else the built-in ones in USD; `tokens` is no price key', () => {
    const prices = table({ aa: { 'gpt-image-1.5': { tokens: { textInput: 5, imageInput: 5, imageOutput: 30 } } } })
    expect(prices.tokenRates('aa', 'gpt-image-1.5')).toEqual({ textInput: 5, imageInput: 5, imageOutput: 30 })
    expect(prices.tokenRates('openai', 'gpt-image-1.5')).toEqual({ textInput: 5, imageInput: 8, imageOutput: 32 })
    expect(prices.tokenRates('openai', 'gpt-image-1')).toEqual({ textInput: 5, imageInput: 10, imageOutput: 40 })
    expect(prices.tokenRates('toapis', 'gpt-image-1.5-official')).toBeUndefined()
    // Only token rates: no per-image price, said as such.
    expect(prices.perImage(job('aa', 'gpt-image-1.5'))).toMatchObject({ known: false, reason: 'no known price' })
  })
})
