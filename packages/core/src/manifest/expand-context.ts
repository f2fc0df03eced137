// The shapes passed between the expansion steps of a manifest: its context, drafts and planned jobs.
import type { Job } from './job.js'
import type { LoadOptions } from './load-manifest.js'
import type { JobDraft } from './rules.js'
import type { ManifestSource } from './source.js'
import type { OpenTokens } from './template.js'
import type { RecipeParameters } from './types.js'
import type { SchemaFindings } from './validate-schema.js'

/** What every recipe of a manifest is expanded against. */
export interface ExpandContext {
  root: string
  outDir: string
  source: ManifestSource
  options: LoadOptions
  findings: SchemaFindings
  /** Vars without a schema error. */
  vars: Readonly<Record<string, string | number>>
  /** Vars with one (`all`: `vars` itself is unusable). */
  unknownVars: ReadonlySet<string> | 'all'
  /** `defaults`, when usable; its fields with a schema error are told by `findings`. */
  defaults: RecipeParameters
  /** `defaults` is not a map: every inherited parameter is unknown. */
  defaultsUnknown: boolean
}

/** A draft with what its output names are made of. */
export interface Draft extends JobDraft {
  /** The output name pattern (`name`, or the default one), or undefined when `name` has a schema error. */
  namePattern: string | undefined
  /** `name` is set (diagnostics point at it rather than at the recipe). */
  named: boolean
  /** `format` has a schema error: {ext} is built as png, good enough to tell where a name lands. */
  extStandIn: boolean
  /** Tokens and vars whose values are unknown here. */
  open: OpenTokens
}

/** A draft with its output paths and, when it is sound, its job. */
export interface Planned {
  draft: Draft
  /** Output paths relative to the manifest folder, or undefined when the name cannot be built. */
  outputs?: string[]
  /**
   * Which other outputs these may be compared with for duplicates: `all`; `recipe` when {ext} is a
   * stand-in (an invalid `format`: the same for the whole recipe); `none` when {hash} is (a job
   * with errors has no key). Where an output lands is checked whatever the stand-ins.
   */
  comparable: 'all' | 'recipe' | 'none'
  job?: Job
  /** An output name problem (reported): never becomes a job. */
  bad: boolean
  /** An output is refused where it really lands (reserved, or out of the project): its name is not compared with others. */
  refused?: boolean
}

/** A value of the manifest as the rules see it: set (and valid), unset, or unknown (a schema error). */
export type Known<T> = { value: T } | 'unset' | 'unknown'

/** A plain YAML map (not a list, not null). */
export function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
