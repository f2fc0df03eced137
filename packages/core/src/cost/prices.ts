// The price table: the manifest's `prices:` over the built-in prices, looked up per job.
import type { Job } from '../manifest/job.js'
import { BUILTIN_CURRENCY, BUILTIN_PRICES } from './builtin-prices.js'
import { type Nanos, toNanos } from './money.js'
import { ANY_KEY, type KeyKind, kindOf, pathText } from './price-keys.js'
import type { ModelPrice, PriceSettings, PriceTree, TokenRates } from './price-types.js'

/** What a price lookup reads of a job. */
export type PricedJob = Pick<Job, 'provider' | 'model' | 'paid' | 'params' | 'size'>

/** The price of one image of a job, or why there is none. */
export type PriceAnswer =
  | { known: true; nanos: Nanos; source: 'manifest' | 'built-in' | 'free' }
  | {
      known: false
      /** Why, in a few words: `no known price`, `quality auto has no single price`. */
      reason: string
      /** The manifest path to set, e.g. `prices.aa."gpt-image-1.5"`. */
      setting: string
    }

/** The job's value for each kind of key. */
type Facts = Record<Exclude<KeyKind, 'any'>, string | undefined>

function factsOf(job: PricedJob): Facts {
  return {
    quality: job.params.quality,
    resolution: job.params.resolution,
    // `ratio: auto` has no ratio and no size known in advance: only '*' matches it.
    ratio: job.params.ratio === 'auto' ? undefined : job.params.ratio,
    size: job.size ? `${job.size.width}x${job.size.height}` : undefined,
  }
}

type Walk = { ok: true; price: number } | { ok: false; kind: KeyKind | undefined; value: string | undefined; path: string[] }

/**
 * Walks a price tree: at each level the key naming the job's value of that level's kind, else
 * `'*'`. A level mixes no kinds (the rules refuse that: `cost/check-prices.ts`), so one key at
 * most matches.
 */
function walk(tree: PriceTree, facts: Facts, path: string[]): Walk {
  if (typeof tree === 'number') return { ok: true, price: tree }
  const keys = Object.keys(tree)
  for (const key of keys) {
    const kind = kindOf(key)
    const branch = tree[key]
    if (kind && kind !== 'any' && facts[kind] === key && branch !== undefined) return walk(branch, facts, [...path, key])
  }
  const any = tree[ANY_KEY]
  if (any !== undefined) return walk(any, facts, [...path, ANY_KEY])
  const kind = keys.map(kindOf).find((item) => item !== 'any')
  return { ok: false, kind, value: kind ? facts[kind] : undefined, path }
}

/** Why a walk found nothing, and the key that would price the job. */
function missing(found: Extract<Walk, { ok: false }>, job: PricedJob, base: string[]): { reason: string; setting: string } {
  const at = (key?: string) => pathText(['prices', ...base, ...found.path, ...(key ? [key] : [])])
  if (found.kind === undefined) return { reason: 'no known price', setting: at() }
  if (found.kind === 'quality' && found.value === 'auto') {
    return { reason: 'quality auto has no single price, since the service picks the quality it bills', setting: at('auto') }
  }
  if (found.value === undefined) {
    return { reason: `ratio auto: the ${found.kind} is the service's choice, so no ${found.kind} price applies`, setting: at(ANY_KEY) }
  }
  const shown = found.kind === 'size' ? found.value : JSON.stringify(found.value)
  return { reason: `no price for ${found.kind} ${shown} of ${job.provider}/${job.model}`, setting: at(found.value) }
}

/** A model entry split into its per-image tree (undefined when it has only token rates) and its rates. */
function splitEntry(entry: ModelPrice | undefined): { tree?: PriceTree; tokens?: TokenRates } {
  if (entry === undefined) return {}
  if (typeof entry === 'number') return { tree: entry }
  const { tokens, ...rest } = entry
  const tree = rest as Record<string, PriceTree>
  return { ...(Object.keys(tree).length > 0 ? { tree } : {}), ...(tokens ? { tokens } : {}) }
}

/**
 * Prices per provider and model: the manifest's first, then the built-in ones (USD only). A
 * manifest entry extends the built-in one: a job its tree does not price falls back to them.
 */
export class PriceTable {
  readonly currency: string

  constructor(private readonly settings: PriceSettings = {}) {
    this.currency = settings.currency ?? BUILTIN_CURRENCY
  }

  /** What one image of `job` costs in {@link currency}. A free provider (`local`) costs 0. */
  perImage(job: PricedJob): PriceAnswer {
    if (!job.paid) return { known: true, nanos: 0, source: 'free' }
    const facts = factsOf(job)
    const base = [job.provider, job.model]
    const own = splitEntry(this.entry(job.provider, job.model)).tree
    const fromManifest = own === undefined ? undefined : walk(own, facts, [])
    if (fromManifest?.ok) return { known: true, nanos: toNanos(fromManifest.price), source: 'manifest' }
    const builtin = BUILTIN_PRICES[job.provider]?.[job.model]
    if (builtin && this.currency !== BUILTIN_CURRENCY && !fromManifest) {
      return {
        known: false,
        reason: `the built-in prices are in ${BUILTIN_CURRENCY}, and prices.currency is ${this.currency}`,
        setting: pathText(['prices', ...base]),
      }
    }
    const fromBuiltin = builtin && this.currency === BUILTIN_CURRENCY ? walk(builtin.image, facts, []) : undefined
    if (fromBuiltin?.ok) return { known: true, nanos: toNanos(fromBuiltin.price), source: 'built-in' }
    const miss = fromManifest ?? fromBuiltin
    return miss && !miss.ok ? { known: false, ...missing(miss, job, base) } : { known: false, reason: 'no known price', setting: pathText(['prices', ...base]) }
  }

  /** Token rates per million for a provider and model: the manifest's, else the built-in ones (USD only). */
  tokenRates(provider: string, model: string): TokenRates | undefined {
    const own = splitEntry(this.entry(provider, model)).tokens
    if (own) return own
    return this.currency === BUILTIN_CURRENCY ? BUILTIN_PRICES[provider]?.[model]?.tokens : undefined
  }

  private entry(provider: string, model: string): ModelPrice | undefined {
    const models = (this.settings as Record<string, unknown>)[provider]
    if (!models || typeof models !== 'object') return undefined
    return Object.hasOwn(models, model) ? (models as Record<string, ModelPrice>)[model] : undefined
  }
}

/** The price table of a manifest (built-in prices alone when it has no `prices:`). */
export function priceTable(manifest: { prices?: PriceSettings } | undefined): PriceTable {
  return new PriceTable(manifest?.prices)
}
