import type { PriceSettings } from '../cost/price-types.js'
import type { OutputFormat, ProviderId, Quality, Ratio, Resolution } from '../providers/provider.js'

/** Generation parameters shared by `defaults` and every recipe. */
export interface RecipeParameters {
  /** Which service runs the edit. @default 'toapis' */
  provider?: ProviderId
  /** Model id at the provider. @default the provider's default model */
  model?: string
  /** @default '1:1' */
  ratio?: Ratio
  /** @default '1k' */
  resolution?: Resolution
  /** Images per recipe, 1..10. @default 1 */
  n?: number
  /**
   * Images generated per take, 1..10 and at least `n`: all are kept, `n` of them are the outputs
   * (the first ones until `images-edit pick` says otherwise). @default n
   */
  candidates?: number
  /** @default 'high' */
  quality?: Quality
  /** @default 'png' */
  format?: OutputFormat
  /** 0..100, jpeg/webp only. */
  compression?: number
  background?: 'transparent' | 'opaque' | 'auto'
  inputFidelity?: 'high' | 'low'
  moderation?: 'low' | 'auto'
  /** Part of the cache key: change it to ask for a fresh take. */
  seed?: string | number
}

/** One recipe of `images.edit.yaml`. */
export interface Recipe extends RecipeParameters {
  prompt: string
  /** Local paths (relative to the manifest) or https URLs, 1..16. */
  refs: string[]
  /** PNG with alpha, same size as refs[0]. */
  mask?: string
  /** Output file pattern inside `out`. */
  name?: string
  /** Glob: one job per matching file. */
  each?: string
}

/** Per-provider settings. */
export interface ProviderSettings {
  /** API base URL. Overridden by `IMAGES_EDIT_<PROVIDER>_BASE_URL`. */
  baseUrl?: string
  /** Name of the environment variable holding the key. @default e.g. 'TOAPIS_API_KEY' */
  apiKeyEnv?: string
  /** Tasks in flight on this provider. @default the global concurrency */
  concurrency?: number
  /** Paid requests per minute. */
  requestsPerMinute?: number
  /** First poll this long after submit. @default 5000 */
  pollIntervalMs?: number
  /** Per-request inactivity timeout. */
  timeoutMs?: number
  /** Stop polling a task after this long. @default 900000 */
  taskTimeoutMs?: number
}

/** The whole manifest, as validated by the JSON Schema. */
export interface Manifest {
  version: 1
  /** @default 'generated' */
  out?: string
  vars?: Record<string, string | number>
  defaults?: RecipeParameters
  providers?: Partial<Record<ProviderId, ProviderSettings>>
  /** @default 8 */
  concurrency?: number
  budget?: {
    maxImagesPerRun?: number
    /** Refuse a run whose estimated cost (in `prices.currency`) is over this, or cannot be estimated. */
    maxSpend?: number
  }
  /** Prices per output image by provider and model, over the built-in ones (`cost/price-types.ts`). */
  prices?: PriceSettings
  /** A team store in an S3-compatible bucket (docs/team.md); the environment overrides it. */
  remote?: RemoteSettings
  /** Loosen the path and URL rules (both off by default). */
  security?: {
    /** Let refs, masks, `each` globs and `out` reach outside the manifest's folder. @default false */
    allowOutsideProject?: boolean
    /** Accept `http://` URL refs on loopback hosts (tests). @default false */
    allowLoopbackHttp?: boolean
  }
  recipes: Record<string, Recipe>
}

/** `remote:` of the manifest. Credentials never go here: they come from the AWS environment variables. */
export interface RemoteSettings {
  /** `s3://bucket/prefix` */
  url: string
  endpoint?: string
  region?: string
  forcePathStyle?: boolean
}

/** File name of the manifest. */
export const MANIFEST_NAME = 'images.edit.yaml'
/** File name of the lock, beside the manifest. */
export const LOCK_NAME = 'images.edit.lock'
/** Store folder, beside the manifest. */
export const STORE_DIR = '.images-edit'
/** Default output folder. */
export const DEFAULT_OUT = 'generated'
/** Default global concurrency. */
export const DEFAULT_CONCURRENCY = 8
