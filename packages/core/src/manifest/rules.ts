// Layer 3, the rules: the job drafts they check, and the checks of each job's refs and mask.
import type { Diagnostic } from '../diagnostics.js'
import { isInside } from '../fs/project-fs.js'
import type { FileIndex } from '../hash/file-index.js'
import type { ProviderCapabilities, ProviderId } from '../providers/provider.js'
import type { JobInput, JobParams } from './job.js'
import { formatBytes, resolveInput } from './resolve-input.js'
import type { DocPath, ManifestSource } from './source.js'
import type { TokenValues } from './template.js'

/** Layer 3, capabilities: checked once per recipe (see {@link checkCapabilities}). */
export { checkCapabilities, type RecipeFacts } from './capability-rules.js'

/** A job before its inputs are checked and its key computed. */
export interface JobDraft {
  id: string
  recipe: string
  eachFile?: string
  /** Undefined when the recipe's provider has a schema error: provider-specific checks are skipped. */
  provider: ProviderId | undefined
  model: string | undefined
  prompt: string | undefined
  /** Complete only when `broken` is false. */
  params: JobParams
  seed?: string | number
  n: number
  /** Images per take (≥ n): the outputs are n of them. */
  candidates: number
  /** Ref and mask sources after token substitution; undefined where the source is not known (a schema or token error of its own). */
  refs: (string | undefined)[]
  mask?: string
  nameTokens: TokenValues
  docPath: DocPath
  capabilities: ProviderCapabilities | undefined
  /** Already has an error of its own (or in its recipe): checked, but never becomes a job. */
  broken: boolean
  /** Filled by {@link checkJob}. */
  resolvedRefs: JobInput[]
  resolvedMask?: JobInput
}

/** What the rules read and where they push their diagnostics, for one load. */
export interface RuleContext {
  source: ManifestSource
  fileIndex: FileIndex
  diagnostics: Diagnostic[]
  root: string
  /** The root with symlinks resolved, to check where a file really is. */
  realRoot: string
  security: { allowOutsideProject: boolean; allowLoopbackHttp: boolean }
  /** Memo of resolved real paths for this load. */
  realpaths: Map<string, Promise<string>>
  /** First resolution of each input in this load, by role, provider and source. */
  resolved: Map<string, Promise<JobInput | undefined>>
}

/** Whether `path` is `folder` or inside it (one definition, shared with the write checks). */
export { isInside }

/**
 * Layer 3, files: every known ref and mask of a job. Each rule pushes located diagnostics; the
 * job's inputs are usable when none of them is an error.
 */
export async function checkJob(draft: JobDraft, context: RuleContext): Promise<boolean> {
  // Jobs are checked concurrently: count only this job's own problems, not those another job
  // pushes to the shared list while this one awaits its files.
  const own: Diagnostic[] = []
  const local: RuleContext = { ...context, diagnostics: own }
  await checkInputs(draft, local)
  context.diagnostics.push(...own)
  return !own.some((item) => item.severity === 'error')
}

async function checkInputs(draft: JobDraft, context: RuleContext): Promise<void> {
  const resolved = await Promise.all(
    draft.refs.map((ref, index) => (ref === undefined ? undefined : resolveInput(draft, ref, [...draft.docPath, 'refs', index], 'ref', context))),
  )
  if (resolved.every((item) => item !== undefined)) draft.resolvedRefs = resolved as JobInput[]
  if (draft.mask === undefined) return
  const mask = await resolveInput(draft, draft.mask, [...draft.docPath, 'mask'], 'mask', context)
  if (!mask) return
  draft.resolvedMask = mask
  const { source, diagnostics } = context
  const path: DocPath = [...draft.docPath, 'mask']
  if (mask.input.kind !== 'file') return
  const where = draft.eachFile ? ` (for ${draft.eachFile})` : ''
  if (mask.input.format !== 'png') {
    diagnostics.push(
      source.diagnostic(
        'error',
        'mask/not-png',
        path,
        `mask ${draft.mask} is ${mask.input.format}, not PNG${where}`,
        'Export the mask as a PNG with an alpha channel: transparent (alpha 0) = repaint, opaque = keep.',
      ),
    )
    return
  }
  const meta = await context.fileIndex.lookup(mask.input.path, { image: true })
  if (meta.ok && meta.info.image && !meta.info.image.hasAlpha) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'mask/no-alpha',
        path,
        `mask ${draft.mask} has no alpha channel${where}`,
        'Save it as a PNG with transparency: alpha 0 marks the area to repaint, opaque pixels are kept.',
      ),
    )
  }
  // Compared with refs[0] only when that ref is known and sound.
  const first = resolved[0]?.input
  if (first?.kind === 'file' && (first.width !== mask.input.width || first.height !== mask.input.height)) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'mask/size',
        path,
        `mask ${draft.mask} is ${mask.input.width}×${mask.input.height} but the first ref ${draft.refs[0]} is ${first.width}×${first.height}${where}`,
        `Resize the mask to ${first.width}×${first.height}; it must match the first ref exactly.`,
      ),
    )
  }
  if (draft.capabilities && mask.input.bytes > draft.capabilities.mask.maxBytes) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'mask/too-large',
        path,
        `mask ${draft.mask} is ${formatBytes(mask.input.bytes)}; ${draft.provider} takes at most ${formatBytes(draft.capabilities.mask.maxBytes)}`,
        'Save the mask with fewer colours or at a smaller size (the same size as the first ref).',
      ),
    )
  }
}
