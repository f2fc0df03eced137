import { canonicalJson, sha256 } from '../hash/content-hash.js'
import type { JobParams } from '../manifest/job.js'
import type { ProviderId } from '../providers/provider.js'

/**
 * Version of the key format. Bump it only when what goes into the key changes meaning; every
 * cached result then becomes stale, so it is a deliberate, documented event.
 */
export const KEY_VERSION = 1

/** What a job key is computed from. */
export interface KeyMaterial {
  provider: ProviderId
  model: string
  prompt: string
  params: JobParams
  /** sha256 of each local ref's bytes, or `url:<url>` for a URL ref, in order. */
  refs: readonly string[]
  /** sha256 of the mask's bytes (or `url:<url>`), if any. */
  mask?: string
  seed?: string | number
}

/**
 * The job key: sha256 over the canonical JSON of everything that decides the images. Not in it:
 * paths, mtimes, output names, `out`, `n` (a job holds a growing list of images), concurrency and
 * credentials — so renaming a ref costs nothing and a key never depends on who runs it.
 */
export function computeJobKey(material: KeyMaterial): string {
  return sha256(keyJson(material))
}

const PARAM_NAMES = ['background', 'compression', 'format', 'inputFidelity', 'moderation', 'quality', 'ratio', 'resolution'] as const

/**
 * The canonical JSON of a key's material, built directly: byte-for-byte what
 * {@link canonicalKeyJson} (the generic canonical form) gives, several times faster — a no-op
 * build computes tens of thousands of keys. A test holds the two equal.
 */
export function keyJson(material: KeyMaterial): string {
  const params = material.params as unknown as Record<string, unknown>
  const parts: string[] = []
  for (const name of PARAM_NAMES) if (params[name] !== undefined) parts.push(`${JSON.stringify(name)}:${JSON.stringify(params[name])}`)
  return (
    `{"mask":${JSON.stringify(material.mask ?? null)},"model":${JSON.stringify(material.model)},"params":{${parts.join(',')}},` +
    `"prompt":${JSON.stringify(material.prompt)},"provider":${JSON.stringify(material.provider)},"refs":[${material.refs.map((ref) => JSON.stringify(ref)).join(',')}],` +
    `"seed":${JSON.stringify(material.seed ?? null)},"v":${KEY_VERSION}}`
  )
}

/** The key material's canonical JSON by the generic rule (sorted keys at every level). */
export function canonicalKeyJson(material: KeyMaterial): string {
  return canonicalJson({
    v: KEY_VERSION,
    provider: material.provider,
    model: material.model,
    prompt: material.prompt,
    params: material.params,
    refs: material.refs,
    mask: material.mask ?? null,
    // Numbers and strings stay distinct: `seed: 1` and `seed: "1"` are different takes.
    seed: material.seed ?? null,
  })
}
