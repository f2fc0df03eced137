// Schema errors inside `prices:` said in the words of prices (what a price key or a price may be), not the schema's.
import type { ErrorObject } from 'ajv'
import type { Diagnostic } from '../diagnostics.js'
import { closest } from '../manifest/did-you-mean.js'
import type { DocPath, ManifestSource } from '../manifest/source.js'
import { priceKeyHint } from './price-keys.js'

const PRICE_FORM =
  'A price is what one output image costs, in prices.currency (default USD): a number such as 0.04, or a map such as `{ high: 0.13, low: 0.01 }`.'

/**
 * A schema error at or below `prices.<provider>.<model>` described for prices; undefined for any
 * other error (the generic descriptions apply).
 */
export function describePriceError(error: ErrorObject, source: ManifestSource, path: DocPath, name: string): Diagnostic | undefined {
  if (path[0] !== 'prices' || path.length < 3 || path[3] === 'tokens') return undefined
  const params = error.params as Record<string, unknown>
  if (error.keyword === 'propertyNames') {
    const key = String(params.propertyName)
    return source.diagnostic('error', 'prices/key', [...path, key], `${JSON.stringify(key)} is not a price key (in ${name})`, priceKeyHint(key, closest), {
      target: 'key',
    })
  }
  if (error.keyword === 'minimum') {
    return source.diagnostic('error', 'prices/negative', path, `${name} must be ≥ 0; got ${JSON.stringify(error.data)}`, `${PRICE_FORM} Write 0 for free.`)
  }
  if (error.keyword === 'type' && error.schemaPath.endsWith('/else/type')) {
    const got = error.data === null ? 'nothing' : Array.isArray(error.data) ? 'a list' : `${typeof error.data} ${JSON.stringify(error.data)}`
    return source.diagnostic(
      'error',
      'prices/type',
      path,
      `${name} must be a price (a number) or a map of prices; got ${got}`,
      `${PRICE_FORM} Write numbers without quotes.`,
    )
  }
  if (error.keyword === 'minProperties') {
    return source.diagnostic('error', 'prices/empty', path, `${name} is an empty map`, `${PRICE_FORM} Remove it, or give it a key.`, { target: 'key' })
  }
  return undefined
}
