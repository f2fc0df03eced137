// Money as exact integers, and shown rounded to the currency's smallest unit.
import type { Money } from './price-types.js'

/**
 * Amounts are counted in billionths of the currency unit, as integers, so sums are exact:
 * 0.034 × 3 is 0.102, never 0.10200000000000001, and a budget compares what it should. A
 * billionth is fine enough for token rates ($5 per million tokens is 5,000 per token).
 */
export type Nanos = number

const SCALE = 1e9

/** An amount in currency units as {@link Nanos}. */
export function toNanos(amount: number): Nanos {
  return Math.round(amount * SCALE)
}

/** {@link Nanos} back to currency units. */
export function fromNanos(nanos: Nanos): number {
  return nanos / SCALE
}

const formatters = new Map<string, Intl.NumberFormat>()

function formatter(currency: string): Intl.NumberFormat {
  let format = formatters.get(currency)
  if (!format) {
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency })
    formatters.set(currency, format)
  }
  return format
}

/**
 * `$0.76`, `€1.20`, `¥12`: rounded to the currency's smallest unit for display only (sums are
 * made before rounding). An amount above zero that would show as zero shows as `< $0.01`, so a
 * cheap run never reads as free.
 */
export function formatMoney(money: Money): string {
  const format = formatter(money.currency)
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2
  const smallest = 10 ** -digits
  if (money.amount > 0 && money.amount < smallest / 2) return `< ${format.format(smallest)}`
  return format.format(money.amount)
}

/** Sums of money kept per currency (records made under another `prices.currency` are never added to these). */
export class MoneySum {
  private readonly totals = new Map<string, Nanos>()

  add(money: Money | undefined): void {
    if (!money) return
    this.totals.set(money.currency, (this.totals.get(money.currency) ?? 0) + toNanos(money.amount))
  }

  addAll(other: MoneySum): void {
    for (const money of other.list()) this.add(money)
  }

  /** One entry per currency, in the order first seen. */
  list(): Money[] {
    return [...this.totals].map(([currency, nanos]) => ({ amount: fromNanos(nanos), currency }))
  }

  /** `$0.76`, `$0.76 + €1.20`; undefined when nothing was added. */
  text(): string | undefined {
    const parts = this.list().map(formatMoney)
    return parts.length > 0 ? parts.join(' + ') : undefined
  }
}
