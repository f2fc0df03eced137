import { readdir, realpath } from 'node:fs/promises'
import { basename, dirname, join, posix, resolve } from 'node:path'
import type { Diagnostic } from '../diagnostics.js'
import { isInside } from '../fs/project-fs.js'
import { type FileIndex, MAX_INPUT_PIXELS } from '../hash/file-index.js'
import type { InputFormat, ProviderCapabilities, ProviderId } from '../providers/provider.js'
import { ratiosWith } from '../providers/sizes.js'
import type { JobInput, JobParams } from './job.js'
import type { DocPath, ManifestSource } from './source.js'
import type { TokenValues } from './template.js'
import type { RecipeParameters } from './types.js'
import { closest } from './validate-schema.js'

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

/** What the capability rules know of a recipe: only values without a schema error of their own. */
export interface RecipeFacts {
  docPath: DocPath
  /** Undefined when unknown (a schema error): no capability rule can be checked. */
  provider?: ProviderId
  model?: string
  capabilities?: ProviderCapabilities
  /** Effective parameters that are known (set, inherited or built in); one with a schema error is absent. */
  params: Partial<JobParams>
  /** Number of refs, when the list itself is sound. */
  refCount?: number
  hasMask: boolean
  /** Where an effective parameter was set (recipe, defaults, or the recipe itself when built in). */
  where(field: keyof RecipeParameters): DocPath
}

interface RuleContext {
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

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

const MB = 1024 * 1024

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

/**
 * Layer 3, capabilities: what the recipe's provider accepts. Once per recipe (they do not depend
 * on an `each` match); a rule whose values are unknown (schema errors) is skipped.
 */
export function checkCapabilities(facts: RecipeFacts, { source, diagnostics }: Pick<RuleContext, 'source' | 'diagnostics'>): void {
  const caps = facts.capabilities
  const provider = facts.provider
  const { params } = facts
  const error = (rule: string, path: DocPath, message: string, hint: string) => diagnostics.push(source.diagnostic('error', rule, path, message, hint))
  const warning = (rule: string, path: DocPath, message: string, hint: string) => diagnostics.push(source.diagnostic('warning', rule, path, message, hint))

  // Parameters that contradict each other whatever the provider.
  if (params.compression !== undefined && params.format === 'png') {
    warning('params/compression-png', facts.where('compression'), '`compression` has no effect on png output', 'Remove it, or set `format: jpeg` or `webp`.')
  }
  if (params.background === 'transparent' && params.format === 'jpeg') {
    error(
      'params/transparent-jpeg',
      facts.where('background'),
      'a transparent background needs png or webp output; format is jpeg',
      'Set `format: png` or `webp`, or drop `background: transparent`.',
    )
  }
  if (!caps || !provider) return

  if (params.ratio !== undefined) {
    if (params.ratio === 'auto') {
      if (!caps.autoRatio) error('provider/ratio', facts.where('ratio'), `${provider} does not accept ratio "auto"`, 'Pick a fixed ratio such as "1:1".')
    } else if (!caps.sizes[params.ratio]) {
      const ratios = Object.keys(caps.sizes)
      error('provider/ratio', facts.where('ratio'), `${provider} cannot make ratio ${params.ratio}`, `${provider} supports: ${ratios.join(', ')}.`)
    } else if (params.resolution !== undefined && !caps.sizes[params.ratio]?.[params.resolution]) {
      const ratios = ratiosWith(caps.sizes, params.resolution)
      const resolutions = Object.keys(caps.sizes[params.ratio] ?? {})
      error(
        'provider/resolution',
        facts.where('resolution'),
        `${provider} cannot make ${params.resolution} at ratio ${params.ratio}`,
        ratios.length > 0
          ? `${params.resolution} is available for ${ratios.join(', ')}; at ${params.ratio} use ${resolutions.join(' or ')}.`
          : `${provider} has no ${params.resolution}; use ${resolutions.join(' or ')}.`,
      )
    }
  }
  if (facts.refCount !== undefined && facts.refCount > caps.maxRefs) {
    error(
      'provider/max-refs',
      [...facts.docPath, 'refs'],
      `${provider} takes at most ${caps.maxRefs} reference images; this recipe has ${facts.refCount}`,
      'Remove references or combine them into one image.',
    )
  }
  if (params.format !== undefined && !caps.formats.includes(params.format)) {
    error('provider/format', facts.where('format'), `${provider} cannot output ${params.format}`, `Use ${caps.formats.join(' or ')}.`)
  }
  if (params.quality !== undefined && !caps.qualities.includes(params.quality)) {
    error('provider/quality', facts.where('quality'), `${provider} does not accept quality "${params.quality}"`, `Use ${caps.qualities.join(', ')}.`)
  }
  if (facts.hasMask && !caps.mask.supported) {
    error('provider/mask', [...facts.docPath, 'mask'], `${provider} does not support masks`, 'Remove the mask or use a provider that supports it.')
  }
  for (const parameter of ['compression', 'background', 'inputFidelity', 'moderation'] as const) {
    if (params[parameter] !== undefined && !caps.parameters.includes(parameter)) {
      warning(
        'provider/ignored-parameter',
        facts.where(parameter),
        `${provider} ignores \`${parameter}\``,
        `Remove \`${parameter}\`, or accept that it has no effect on ${provider}.`,
      )
    }
  }
  // What the provider makes of transparency, once the output format can hold it.
  if (params.background === 'transparent' && params.format !== undefined && params.format !== 'jpeg') {
    if (caps.transparentBackground === 'downgraded') {
      warning(
        'provider/transparent',
        facts.where('background'),
        `${provider} (${facts.model ?? 'its model'}) silently turns a transparent background into "auto"`,
        'Expect an opaque background, or use a provider that honours transparency.',
      )
    } else if (caps.transparentBackground === 'unsupported') {
      error('provider/transparent', facts.where('background'), `${provider} cannot make a transparent background`, 'Drop `background: transparent`.')
    }
  }
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

async function resolveInput(draft: JobDraft, value: string, path: DocPath, role: 'ref' | 'mask', context: RuleContext): Promise<JobInput | undefined> {
  // A ref shared by many recipes is checked once; only a failure is checked again per use, so
  // each recipe gets its own located diagnostic.
  const memoKey = `${role}\u0000${draft.provider ?? ''}\u0000${value}`
  let first = context.resolved.get(memoKey)
  if (!first) {
    first = resolveInputOnce(draft, value, path, role, context)
    context.resolved.set(memoKey, first)
    return first
  }
  return (await first) ?? resolveInputOnce(draft, value, path, role, context)
}

async function resolveInputOnce(draft: JobDraft, value: string, path: DocPath, role: 'ref' | 'mask', context: RuleContext): Promise<JobInput | undefined> {
  const { source, diagnostics, fileIndex, root } = context
  const caps = draft.capabilities
  const where = draft.eachFile ? ` (for ${draft.eachFile})` : ''
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    let url: URL | undefined
    try {
      url = new URL(value)
    } catch {
      url = undefined
    }
    const loopbackHttp = url?.protocol === 'http:' && LOOPBACK.has(url.hostname) && context.security.allowLoopbackHttp
    if (!url || (url.protocol !== 'https:' && !loopbackHttp)) {
      diagnostics.push(
        source.diagnostic(
          'error',
          `${role}/url`,
          path,
          `${value} is not an https URL`,
          url?.protocol === 'http:' && LOOPBACK.has(url.hostname)
            ? 'Loopback http URLs need `security.allowLoopbackHttp: true` in the manifest (meant for tests).'
            : 'URL references must start with https://; or download the file and give its path.',
        ),
      )
      return undefined
    }
    if (caps && !caps.refs.urls) {
      diagnostics.push(
        source.diagnostic(
          'error',
          `${role}/url`,
          path,
          `${draft.provider} cannot take URL references`,
          'Download the image into the project and give its path.',
        ),
      )
      return undefined
    }
    return { source: value, input: { kind: 'url', url: url.href } }
  }

  const absolute = resolve(root, value)
  const relativePath = posix.relative(root.split('\\').join('/'), absolute.split('\\').join('/'))
  const lookup = await fileIndex.lookup(absolute, { image: true })
  if (!lookup.ok) {
    let hint = `Paths are relative to the manifest folder (${root}).`
    if (lookup.reason === 'missing') {
      const guess = await nearbyName(absolute)
      if (guess) hint = `Did you mean ${posix.join(posix.dirname(value), guess)}? ${hint}`
    }
    diagnostics.push(
      source.diagnostic(
        'error',
        `${role}/missing`,
        path,
        `${value} ${lookup.reason === 'missing' ? 'does not exist' : lookup.reason === 'not-a-file' ? 'is not a file' : `cannot be read: ${lookup.message}`}${where}`,
        hint,
      ),
    )
    return undefined
  }
  if (!context.security.allowOutsideProject) {
    // Where the file really is: `..`, an absolute path or a symlink may all lead out of the project.
    // A plain file is where its folder really is; only a link needs its own realpath.
    const memo = (path: string) => {
      let resolving = context.realpaths.get(path)
      if (!resolving) {
        resolving = realpath(path).catch(() => path)
        context.realpaths.set(path, resolving)
      }
      return resolving
    }
    const real = lookup.info.symlink ? await memo(absolute) : join(await memo(dirname(absolute)), basename(absolute))
    if (!isInside(context.realRoot, real)) {
      diagnostics.push(
        source.diagnostic(
          'error',
          `${role}/outside-project`,
          path,
          `${value}${real !== absolute ? ` (a link to ${real})` : ''} is outside the project folder ${root}${where}`,
          'Move the file into the project, or set `security.allowOutsideProject: true` in the manifest if reaching outside is intended.',
        ),
      )
      return undefined
    }
  }
  const image = lookup.info.image
  if (!image || image.format === 'unknown') {
    diagnostics.push(
      source.diagnostic(
        'error',
        `${role}/not-image`,
        path,
        `${value} is not an image sharp can read${where}`,
        'Give a PNG, JPEG or WebP file; check that it is not empty, truncated or misnamed.',
      ),
    )
    return undefined
  }
  if (image.width * image.height > MAX_INPUT_PIXELS) {
    // From the header alone: a 100000×100000 claim is refused before anything decodes or uploads it.
    diagnostics.push(
      source.diagnostic(
        'error',
        `${role}/too-many-pixels`,
        path,
        `${value} claims to be ${image.width}×${image.height} pixels, more than the ${Math.round(MAX_INPUT_PIXELS / 1e6)} megapixels images-edit reads${where}`,
        'Give a smaller image (a few megapixels is plenty for a reference); check that the file is not damaged.',
      ),
    )
    return undefined
  }
  // Format and size limits are the provider's: unknown when its `provider` has a schema error.
  if (role === 'ref' && caps && !caps.refs.formats.includes(image.format as InputFormat)) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'ref/format',
        path,
        `${value} is ${image.format}; ${draft.provider} takes ${caps.refs.formats.join(', ')}${where}`,
        'Convert it to PNG or JPEG.',
      ),
    )
    return undefined
  }
  if (role === 'ref' && caps && lookup.info.size > caps.refs.maxBytes) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'ref/too-large',
        path,
        `${value} is ${formatBytes(lookup.info.size)}; ${draft.provider} takes at most ${formatBytes(caps.refs.maxBytes)} per reference${where}`,
        'Save a smaller or more compressed version.',
      ),
    )
    return undefined
  }
  return {
    source: value,
    path: relativePath,
    input: {
      kind: 'file',
      path: absolute,
      sha256: lookup.info.sha256,
      bytes: lookup.info.size,
      format: image.format as InputFormat,
      width: image.width,
      height: image.height,
    },
  }
}

async function nearbyName(absolute: string): Promise<string | undefined> {
  try {
    const names = await readdir(dirname(absolute))
    return closest(absolute.slice(dirname(absolute).length + 1), names)
  } catch {
    return undefined
  }
}

function formatBytes(bytes: number): string {
  return bytes >= MB ? `${(bytes / MB).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`
}
