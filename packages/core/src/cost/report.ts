// `status --cost`: what each recipe has cost so far, read from the store's records (estimated at each run, and as the provider reported it).
import type { LockFile } from '../lock/lock-file.js'
import type { Job } from '../manifest/job.js'
import { definitionOf } from '../providers/catalog.js'
import type { ResultStore, RunRecord } from '../store/store.js'
import { fromNanos, MoneySum } from './money.js'
import { pathText } from './price-keys.js'
import type { Money, PriceSettings } from './price-types.js'
import { type PriceTable, priceTable } from './prices.js'
import { tokenCost, tokensOf } from './usage.js'

/** What a set of runs cost. */
export interface CostTotals {
  /** Images generated and stored (every take, `local` included). */
  images: number
  /** Of those, images a paid provider made. */
  paidImages: number
  /** Estimates recorded at each run, summed per currency. */
  estimated: Money[]
  /** Paid images whose run recorded no estimate (no known price then, or a record older than estimates). */
  unestimatedImages: number
  /** Tokens as the providers reported them, summed; undefined when no run reported any. */
  tokens?: { input: number; output: number }
  /** Reported tokens turned into money at the table's token rates, per currency. */
  reported: Money[]
  /** Paid runs whose reported usage could not be turned into money, and why (each reason once). */
  unreportedRuns: number
  unreportedReasons: string[]
  /** Paid calls billed whose images were never collected (recorded with no images). */
  billedWithoutImages: number
}

/** One recipe's {@link CostTotals}. */
export interface RecipeCost extends CostTotals {
  recipe: string
}

/** `status --cost`. */
export interface CostReport {
  recipes: RecipeCost[]
  /** Records of job keys neither the manifest nor the lock names, from runs that named no job (earlier recipe versions). */
  unattributed?: CostTotals
  total: CostTotals
}

/** Totals being summed. */
class Tally {
  images = 0
  paidImages = 0
  readonly estimated = new MoneySum()
  unestimatedImages = 0
  tokens: { input: number; output: number } | undefined
  readonly reported = new MoneySum()
  unreportedRuns = 0
  readonly unreportedReasons = new Set<string>()
  billedWithoutImages = 0

  addRun(run: RunRecord, table: PriceTable): void {
    this.images += run.count
    const paid = definitionOf(run.provider)?.capabilities(run.model).paid ?? true
    if (!paid) return
    this.paidImages += run.count
    if (run.count === 0) this.billedWithoutImages++
    if (run.estimate) this.estimated.add(run.estimate)
    else this.unestimatedImages += run.count
    const tokens = tokensOf(run.usage)
    if (!tokens) {
      this.unreported(`${run.provider}/${run.model} reported no token usage`)
      return
    }
    this.tokens = { input: (this.tokens?.input ?? 0) + tokens.input, output: (this.tokens?.output ?? 0) + tokens.output }
    const money = tokenCost(tokens, table.tokenRates(run.provider, run.model))
    if ('nanos' in money) this.reported.add({ amount: fromNanos(money.nanos), currency: table.currency })
    else this.unreported(`${run.provider}/${run.model}: ${money.unknown} — set ${pathText(['prices', run.provider, run.model, 'tokens'])}`)
  }

  add(other: Tally): void {
    this.images += other.images
    this.paidImages += other.paidImages
    this.estimated.addAll(other.estimated)
    this.unestimatedImages += other.unestimatedImages
    if (other.tokens) this.tokens = { input: (this.tokens?.input ?? 0) + other.tokens.input, output: (this.tokens?.output ?? 0) + other.tokens.output }
    this.reported.addAll(other.reported)
    this.unreportedRuns += other.unreportedRuns
    for (const reason of other.unreportedReasons) this.unreportedReasons.add(reason)
    this.billedWithoutImages += other.billedWithoutImages
  }

  totals(): CostTotals {
    return {
      images: this.images,
      paidImages: this.paidImages,
      estimated: this.estimated.list(),
      unestimatedImages: this.unestimatedImages,
      ...(this.tokens ? { tokens: this.tokens } : {}),
      reported: this.reported.list(),
      unreportedRuns: this.unreportedRuns,
      unreportedReasons: [...this.unreportedReasons],
      billedWithoutImages: this.billedWithoutImages,
    }
  }

  private unreported(reason: string): void {
    this.unreportedRuns++
    this.unreportedReasons.add(reason)
  }
}

/** What `costReport` reads of a project. */
interface CostedProject {
  store: ResultStore
  plan(options: { only?: readonly string[] }): Promise<{ loaded: { jobs: readonly Job[]; manifest?: { prices?: PriceSettings } } }>
  readLock(): Promise<LockFile>
}

/**
 * `status --cost` for a project: its manifest loaded and the recipe ids checked (by its plan, as
 * `status` does), then {@link recipeCosts} at its price table. A function beside `Project` rather
 * than a method of it, so the façade stays the size of one concern.
 */
export async function costReport(project: CostedProject, only: readonly string[] = []): Promise<CostReport> {
  const { loaded } = await project.plan({ only })
  return recipeCosts(project.store, loaded.jobs, await project.readLock(), priceTable(loaded.manifest), only)
}

/** The recipe of a job id (`hero`, `product/mug.jpg` → `product`): recipe ids have no `/`. */
const recipeOf = (jobId: string) => jobId.split('/')[0] ?? jobId

/**
 * What each recipe has cost so far, from every record in the store. A record belongs to the recipe
 * whose job has its key in the manifest or the lock, else to the job its runs name; the rest are
 * `unattributed` (earlier versions of recipes, recorded before runs named their job).
 */
export async function recipeCosts(
  store: ResultStore,
  jobs: readonly Pick<Job, 'id' | 'key' | 'recipe'>[],
  lock: LockFile,
  table: PriceTable,
  only: readonly string[] = [],
): Promise<CostReport> {
  const recipeOfKey = new Map<string, string>()
  for (const [id, entry] of Object.entries(lock.jobs)) recipeOfKey.set(entry.key, recipeOf(id))
  for (const job of jobs) recipeOfKey.set(job.key, job.recipe)
  const wanted = new Set(only.map(recipeOf))
  const include = (recipe: string) => wanted.size === 0 || wanted.has(recipe)
  const tallies = new Map<string, Tally>(jobs.filter((job) => include(job.recipe)).map((job) => [job.recipe, new Tally()]))
  const unattributed = new Tally()
  for (const key of await store.listRecords()) {
    const record = await store.getRecord(key)
    for (const run of record?.takes.flatMap((take) => take.runs) ?? []) {
      const recipe = recipeOfKey.get(key) ?? (run.job ? recipeOf(run.job) : undefined)
      if (recipe === undefined) {
        if (wanted.size === 0) unattributed.addRun(run, table)
        continue
      }
      if (!include(recipe)) continue
      const tally = tallies.get(recipe) ?? new Tally()
      tallies.set(recipe, tally)
      tally.addRun(run, table)
    }
  }
  const total = new Tally()
  for (const tally of [...tallies.values(), unattributed]) total.add(tally)
  const recipes = [...tallies].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([recipe, tally]) => ({ recipe, ...tally.totals() }))
  return { recipes, ...(unattributed.images + unattributed.billedWithoutImages > 0 ? { unattributed: unattributed.totals() } : {}), total: total.totals() }
}
