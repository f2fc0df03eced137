/**
 * The provider specification: every image-edit service images-edit can call implements
 * {@link ImageEditProvider}, created by the factory of its definition (`definition.ts`). This
 * file holds types only.
 *
 * A provider makes **one API call at a time** and reports what it can do. Retries, concurrency,
 * rate limits, polling cadence, journaling of task ids, caching and storage live once, in the
 * runner — never in a provider.
 */

import type { builtins } from './builtins.js'

/** Provider ids known to the manifest: those of the definitions in `builtins.ts`. */
export type ProviderId = (typeof builtins)[number]['id']

/** Aspect ratios a recipe can ask for. `auto` lets the provider follow the first reference. */
export type Ratio = 'auto' | '1:1' | '3:2' | '2:3' | '4:3' | '3:4' | '5:4' | '4:5' | '16:9' | '9:16' | '2:1' | '1:2' | '21:9' | '9:21'

/** A concrete ratio (anything but `auto`). */
export type FixedRatio = Exclude<Ratio, 'auto'>

/** Resolution class of the output. */
export type Resolution = '1k' | '2k' | '4k'

/** Output encodings. */
export type OutputFormat = 'png' | 'jpeg' | 'webp'

/** Generation quality. */
export type Quality = 'low' | 'medium' | 'high' | 'auto'

/** Formats accepted for reference images. */
export type InputFormat = 'png' | 'jpeg' | 'webp'

/** Width and height in pixels. */
export interface PixelSize {
  width: number
  height: number
}

/**
 * What a provider and model accept. The manifest rules check every recipe against this before
 * anything is paid for, so a provider must declare limits it knows rather than fail at submit.
 */
export interface ProviderCapabilities {
  /** Most reference images one request takes. @example 16 */
  maxRefs: number
  /** Pixel size for each supported ratio × resolution. A missing entry means "not supported". */
  sizes: Partial<Record<FixedRatio, Partial<Record<Resolution, PixelSize>>>>
  /** Whether `ratio: auto` is accepted (the provider picks a size from the first reference). */
  autoRatio: boolean
  /** Range of `n` in one request. */
  n: { min: number; max: number }
  /** Output formats it can produce. */
  formats: readonly OutputFormat[]
  /** Quality levels it accepts. */
  qualities: readonly Quality[]
  /** Reference images: accepted formats, byte limit per file, and whether https URLs can be passed through. */
  refs: { formats: readonly InputFormat[]; maxBytes: number; urls: boolean }
  /** Mask support: PNG with alpha, byte limit. */
  mask: { supported: boolean; maxBytes: number }
  /** How `background: transparent` is treated: honoured, silently downgraded by the service, or rejected. */
  transparentBackground: 'supported' | 'downgraded' | 'unsupported'
  /** Optional parameters it honours; a recipe setting another one gets a warning (an error under `--strict`). */
  parameters: readonly ('compression' | 'background' | 'inputFidelity' | 'moderation')[]
  /** Whether a call costs money. `local` is free; every hosted service is paid. */
  paid: boolean
}

/** One input image, resolved by the engine before the provider sees it. */
export type InputImage =
  | {
      kind: 'file'
      /** Absolute path on disk. */
      path: string
      /** sha256 of the bytes (hex). */
      sha256: string
      bytes: number
      format: InputFormat
      width: number
      height: number
    }
  | { kind: 'url'; url: string }

/** Everything a provider needs for one edit call. */
export interface EditRequest {
  /** The job's cache key; providers may use it as a correlation id, never as an idempotency promise. */
  jobKey: string
  model: string
  prompt: string
  /** 1..capabilities.maxRefs images, in order. */
  refs: readonly InputImage[]
  /** PNG with alpha; alpha 0 marks the area to repaint. Same size as refs[0]. */
  mask?: InputImage
  ratio: Ratio
  resolution: Resolution
  /** Expected pixel size, or undefined for `ratio: auto`. */
  size?: PixelSize
  /** How many images to make in this call. */
  n: number
  /**
   * 0-based position of the first requested image within the job's take. When a job grows from
   * n = 2 to n = 3 the runner asks for one image with `firstIndex: 2`. Deterministic providers
   * (local) use it so image k is the same however the take was grown.
   */
  firstIndex: number
  /** Which take of the job this is (1 unless `--force` asked for a new one). */
  take: number
  quality: Quality
  format: OutputFormat
  compression?: number
  background?: 'transparent' | 'opaque' | 'auto'
  inputFidelity?: 'high' | 'low'
  moderation?: 'low' | 'auto'
  seed?: string | number
}

/** One image as a provider hands it back: bytes, or a URL the runner downloads at once. */
export type ProducedImage = { bytes: Uint8Array } | { url: string }

/** The result of one successful paid call. */
export interface EditResult {
  images: ProducedImage[]
  /** Provider task id, when the service has one. */
  taskId?: string
  /** Usage as reported by the provider (tokens, images, seconds), passed through verbatim. */
  usage?: Record<string, unknown>
  revisedPrompt?: string
  /** Settings the provider could not honour exactly. */
  warnings: string[]
}

/** Progress of one job as a provider or the runner sees it. */
export interface ProviderProgress {
  stage: 'uploading' | 'submitting' | 'submitted' | 'queued' | 'running' | 'downloading' | 'waiting' | 'resumed'
  /** 0..100 when the service reports it. */
  percent?: number
  taskId?: string
  /** A short human-readable note (e.g. "retry 2 in 4.0s: HTTP 503"). */
  note?: string
}

/** Where uploaded inputs are remembered by content hash, so reruns do not upload again. */
export interface UploadCache {
  get(provider: ProviderId, sha256: string): Promise<string | undefined>
  put(provider: ProviderId, sha256: string, url: string): Promise<void>
}

/** What the runner hands a provider for each call. */
export interface EditContext {
  /** Aborts the call (Ctrl-C, timeout). Providers pass it to every request. */
  signal: AbortSignal
  /** Reports progress for the live view, `--json` events and the dev panel. */
  onProgress(progress: ProviderProgress): void
  /** Upload cache (task services with an upload step). */
  uploads?: UploadCache
}

/**
 * An image-edit service.
 *
 * A provider makes exactly one API call per method and never retries: the runner decides what
 * may be repeated. Synchronous services (one request returns the images: `local`, `aa`,
 * `openai`) implement `generate`. Task services (`toapis`) implement `submit` and `poll` instead,
 * so the runner can journal the task id the moment `submit` returns and resume polling after a
 * crash rather than pay again. Either kind may implement `prepare` for free work such as uploads.
 *
 * @example
 * ```ts
 * const provider = createLocalProvider()
 * const result = await provider.generate?.(request, undefined, { signal, onProgress: () => {} })
 * ```
 */
export interface ImageEditProvider {
  readonly id: ProviderId
  /** Model used when a recipe names none. */
  readonly defaultModel: string
  /** What this provider accepts for `model`. */
  capabilities(model: string): ProviderCapabilities
  /** Free preparation (uploads, encoding); retried freely by the runner. Its result goes to `generate`/`submit`. */
  prepare?(request: EditRequest, context: EditContext): Promise<unknown>
  /** Synchronous services: the one paid call. */
  generate?(request: EditRequest, prepared: unknown, context: EditContext): Promise<EditResult>
  /** Task services: the one paid call; returns the task id, journaled by the runner before anything else. */
  submit?(request: EditRequest, prepared: unknown, context: EditContext): Promise<{ taskId: string }>
  /** Task services: one status query (free, retried by the runner). */
  poll?(taskId: string, context: EditContext): Promise<TaskStatus>
  /** Downloads a result URL (free, retried by the runner). Required when results come back as URLs. */
  download?(url: string, context: EditContext): Promise<Uint8Array>
  /** Origin allowed to serve results over plain http (the configured base URL's, for local gateways and tests). */
  readonly httpResultOrigin?: string
  /**
   * How long result URLs stay downloadable after the call (toapis: 24 h). The runner keeps a
   * journaled task whose download failed until this has surely passed. @default 24 h
   */
  readonly resultLifetimeMs?: number
}

/** Normalised state of a provider task. */
export type TaskStatus =
  | {
      state: 'queued' | 'running'
      percent?: number
      /**
       * The raw status when the service answered one no table knows (`running` is assumed). The
       * runner ends such a task after a bounded time, keeping its id journaled.
       */
      unknownStatus?: string
    }
  | { state: 'completed'; urls: string[]; usage?: Record<string, unknown>; revisedPrompt?: string }
  /** `final`: a content-policy refusal or an invalid request — submitting again would fail the same way. */
  | { state: 'failed'; code: string; message: string; final: boolean }
