import type { InputImage, OutputFormat, PixelSize, ProviderId, Quality, Ratio, Resolution } from '../providers/provider.js'
import type { DocPath } from './source.js'

/** Generation parameters of a job that go into its key (everything but `n`). */
export interface JobParams {
  ratio: Ratio
  resolution: Resolution
  quality: Quality
  format: OutputFormat
  compression?: number
  background?: 'transparent' | 'opaque' | 'auto'
  inputFidelity?: 'high' | 'low'
  moderation?: 'low' | 'auto'
}

/** A reference image or mask of a job, resolved and hashed. */
export interface JobInput {
  /** As written in the manifest after substitution (`refs/city.png`, `https://…`). */
  source: string
  /** For files: path relative to the manifest folder, with `/` separators. */
  path?: string
  input: InputImage
}

/**
 * One unit of work: a recipe, or one file of a recipe's `each` fan-out, with every input
 * resolved and its cache key computed. Everything downstream (plan, runner, lock) works on jobs.
 */
export interface Job {
  /** `hero`, or `product/bottle.jpg` for an `each` fan-out. Unique in the manifest. */
  id: string
  recipe: string
  /** The matched file of an `each` fan-out, relative to the manifest folder. */
  eachFile?: string
  /** sha256 (hex) of the canonical job description; see `computeJobKey`. */
  key: string
  provider: ProviderId
  model: string
  /** Whether a generation costs money (false for `local`). */
  paid: boolean
  prompt: string
  params: JobParams
  seed?: string | number
  n: number
  /** Images each take has (≥ n); the outputs are `n` of them, picked (the first by default). Not in the key, like `n`. */
  candidates: number
  /** Expected pixel size, or undefined for `ratio: auto`. */
  size?: PixelSize
  refs: JobInput[]
  mask?: JobInput
  /** Output files, relative to the manifest folder with `/` separators; `outputs.length === n`. */
  outputs: string[]
  /** Where the recipe is in the manifest, for messages. */
  docPath: DocPath
}
