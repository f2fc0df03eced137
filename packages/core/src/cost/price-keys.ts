// What the keys of a price map may be: a quality, resolution, ratio, pixel size, or '*'.
import type { FixedRatio, Quality, Resolution } from '../providers/provider.js'

/** Qualities a price can be keyed by (`auto` is a quality here: `ratio: auto` has no ratio to key by). */
export const PRICE_QUALITIES: readonly Quality[] = ['low', 'medium', 'high', 'auto']
/** Resolutions a price can be keyed by. */
export const PRICE_RESOLUTIONS: readonly Resolution[] = ['1k', '2k', '4k']
/** Ratios a price can be keyed by: every fixed ratio of the schema (checked against it by cost/prices-schema.test.ts). */
export const PRICE_RATIOS: readonly FixedRatio[] = ['1:1', '3:2', '2:3', '4:3', '3:4', '5:4', '4:5', '16:9', '9:16', '2:1', '1:2', '21:9', '9:21']
/** The key matching anything at its level. */
export const ANY_KEY = '*'

/** Which fact of a job a price key is about. */
export type KeyKind = 'quality' | 'resolution' | 'ratio' | 'size' | 'any'

const SIZE_KEY = /^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$/

/** The kind of a price key; undefined for a key that is none (the schema refuses those). */
export function kindOf(key: string): KeyKind | undefined {
  if (key === ANY_KEY) return 'any'
  if ((PRICE_QUALITIES as readonly string[]).includes(key)) return 'quality'
  if ((PRICE_RESOLUTIONS as readonly string[]).includes(key)) return 'resolution'
  if ((PRICE_RATIOS as readonly string[]).includes(key)) return 'ratio'
  return SIZE_KEY.test(key) ? 'size' : undefined
}

/** Every key with a fixed spelling, for "did you mean". */
const FIXED_KEYS: readonly string[] = [...PRICE_QUALITIES, ...PRICE_RESOLUTIONS, ...PRICE_RATIOS, ANY_KEY]

/** How to write a price key, with a guess at the one meant. */
export function priceKeyHint(key: string, closest: (word: string, candidates: readonly string[]) => string | undefined): string {
  const guess = closest(key, FIXED_KEYS)
  const kinds =
    'A key of a price map is a quality (low, medium, high, auto), a resolution (1k, 2k, 4k), a ratio ("3:2", quoted), a requested pixel size (1024x1024) or "*" (anything); `tokens` goes right under the model.'
  return guess ? `Did you mean ${JSON.stringify(guess)}? ${kinds}` : kinds
}

/**
 * A manifest path segment as a user would type it after `prices.` in a message: plain when it is a
 * bare word, quoted otherwise (`prices.aa."gpt-image-1.5"`).
 */
export function pathText(segments: readonly string[]): string {
  return segments.map((segment) => (/^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment))).join('.')
}
