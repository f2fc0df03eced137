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
  return sha256(
    canonicalJson({
      v: KEY_VERSION,
      provider: material.provider,
      model: material.model,
      prompt: material.prompt,
      params: material.params,
      refs: material.refs,
      mask: material.mask ?? null,
      // Numbers and strings stay distinct: `seed: 1` and `seed: "1"` are different takes.
      seed: material.seed ?? null,
    }),
  )
}
