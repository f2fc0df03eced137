// Layer 3 for `prices:`: what the schema cannot say about a price map (its keys are each valid, but together ambiguous or unreachable).
import type { Diagnostic } from '../diagnostics.js'
import type { DocPath, ManifestSource } from '../manifest/source.js'
import type { SchemaFindings } from '../manifest/validate-schema.js'
import { ANY_KEY, type KeyKind, kindOf } from './price-keys.js'
import type { PriceSettings } from './price-types.js'

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Every price map of `prices:`, checked level by level: one level keys one fact of the job (a
 * quality and a size side by side would both match a job, and which wins would be a guess), and a
 * fact already chosen above cannot be chosen again below (`high: { low: … }` prices nothing).
 * A part with a schema error is skipped: the schema has said what is wrong with it.
 */
export function checkPrices(prices: PriceSettings | undefined, findings: SchemaFindings, source: ManifestSource, diagnostics: Diagnostic[]): void {
  if (!isMap(prices) || findings.isInvalid(['prices'])) return
  for (const [provider, models] of Object.entries(prices)) {
    if (provider === 'currency' || !isMap(models)) continue
    for (const [model, entry] of Object.entries(models)) {
      const path: DocPath = ['prices', provider, model]
      if (!isMap(entry) || findings.isInvalid(path)) continue
      const { tokens: _tokens, ...tree } = entry
      checkLevel(tree, path, [], { source, findings, diagnostics })
    }
  }
}

interface Context {
  source: ManifestSource
  findings: SchemaFindings
  diagnostics: Diagnostic[]
}

function checkLevel(tree: Record<string, unknown>, path: DocPath, above: readonly KeyKind[], context: Context): void {
  const keys = Object.keys(tree)
  const kinds = new Map<KeyKind, string[]>()
  for (const key of keys) {
    const kind = kindOf(key)
    if (kind && kind !== 'any') kinds.set(kind, [...(kinds.get(kind) ?? []), key])
  }
  const name = path.map(String).join('.')
  if (kinds.size > 1) {
    const [first, second] = [...kinds]
    context.diagnostics.push(
      context.source.diagnostic(
        'error',
        'prices/mixed-keys',
        [...path, second?.[1][0] ?? ''],
        `${name} mixes ${first?.[0]} keys (${first?.[1].join(', ')}) with ${second?.[0]} keys (${second?.[1].join(', ')}) at one level, so one job could match both`,
        `Key one level by one fact and nest the other inside it, e.g. \`high: { 1024x1024: 0.13 }\`; use "${ANY_KEY}" for "anything else".`,
        { target: 'key' },
      ),
    )
    return
  }
  const [kind] = [...kinds.keys()]
  if (kind && above.includes(kind)) {
    context.diagnostics.push(
      context.source.diagnostic(
        'error',
        'prices/unreachable',
        [...path, kinds.get(kind)?.[0] ?? ''],
        `${name} keys the ${kind} again, inside a ${kind} already chosen above, so no job can reach it`,
        `Key this level by another fact (quality, resolution, ratio or size), or move the price up.`,
        { target: 'key' },
      ),
    )
    return
  }
  for (const key of keys) {
    const branch = tree[key]
    const next = [...path, key]
    if (isMap(branch) && !context.findings.isInvalid(next)) checkLevel(branch, next, kind ? [...above, kind] : above, context)
  }
}
