// The prices images-edit knows by itself: only those public and certain, each with its source and date.
import type { PriceTree, TokenRates } from './price-types.js'

/** Currency of every built-in price. A manifest whose `prices.currency` is another gets none of them. */
export const BUILTIN_CURRENCY = 'USD'

/** One model's built-in prices. */
export interface BuiltinPrice {
  /** Per output image, keyed like a manifest price. */
  image: PriceTree
  tokens: TokenRates
  /** Where the figures come from, for `--verbose` and the docs. */
  source: string
}

/**
 * OpenAI's published prices per output image of its image API, keyed by quality and then by the
 * pixel size images-edit asks for (`size` of /v1/images/edits: `gptImageApiSizes`, 1024x1024,
 * 1024x1536, 1536x1024). `quality: auto` has no key: OpenAI bills the quality it picks, so no
 * single price applies, and the estimate says so instead of guessing.
 *
 * Sources, read 2026-12-03: gpt-image-1 from OpenAI's model page (developers.openai.com, "Image
 * generation, per image", token rates on the same page). gpt-image-1.5 as OpenAI announced it,
 * seen here only on third-party pages that repeat it (Runware's model docs, APIYI's docs); the
 * figures agree with its token rates (a 1024x1024 high image is 4160 output tokens × $32/M =
 * $0.133), which is why they are built in. Input tokens (the prompt and the reference images)
 * are billed on top of these.
 */
const openai: Record<string, BuiltinPrice> = {
  'gpt-image-1.5': {
    image: {
      low: { '1024x1024': 0.009, '1024x1536': 0.013, '1536x1024': 0.013 },
      medium: { '1024x1024': 0.034, '1024x1536': 0.05, '1536x1024': 0.05 },
      high: { '1024x1024': 0.133, '1024x1536': 0.2, '1536x1024': 0.2 },
    },
    tokens: { textInput: 5, imageInput: 8, imageOutput: 32 },
    source: "OpenAI's announced prices, via Runware and APIYI docs (consistent with the token rates), 2026-12-03",
  },
  'gpt-image-1': {
    image: {
      low: { '1024x1024': 0.011, '1024x1536': 0.016, '1536x1024': 0.016 },
      medium: { '1024x1024': 0.042, '1024x1536': 0.063, '1536x1024': 0.063 },
      high: { '1024x1024': 0.167, '1024x1536': 0.25, '1536x1024': 0.25 },
    },
    tokens: { textInput: 5, imageInput: 10, imageOutput: 40 },
    source: 'OpenAI, developers.openai.com/api/docs/models/gpt-image-1, 2026-12-03',
  },
}

/**
 * Built-in prices by provider and model. toapis and aa (典名词元) publish no price we could
 * confirm, so they have none: their images are "no known price" until the manifest sets one.
 */
export const BUILTIN_PRICES: Readonly<Record<string, Readonly<Record<string, BuiltinPrice>>>> = { openai }
