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
  provider: ProviderId
  model: string
  prompt: string
  params: JobParams
  seed?: string | number
  n: number
  /** Ref and mask sources after token substitution. */
  refs: string[]
  mask?: string
  nameTokens: TokenValues
  docPath: DocPath
  /** Where an effective parameter was set (recipe, defaults, or the recipe itself when built in). */
  where(field: keyof RecipeParameters): DocPath
  capabilities: ProviderCapabilities
  /** Already has an error of its own (a bad prompt token): checked, but never becomes a job. */
  broken: boolean
  /** Filled by {@link checkJob}. */
  resolvedRefs: JobInput[]
  resolvedMask?: JobInput
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
 * Layer 3: what needs context — the provider's capabilities and the files themselves. Each rule
 * pushes located diagnostics; the job is usable when none of them is an error.
 */
export async function checkJob(draft: JobDraft, context: RuleContext): Promise<boolean> {
  // Jobs are checked concurrently: count only this job's own problems, not those another job
  // pushes to the shared list while this one awaits its files.
  const own: Diagnostic[] = []
  const local: RuleContext = { ...context, diagnostics: own }
  checkCapabilities(draft, local)
  await checkInputs(draft, local)
  context.diagnostics.push(...own)
  return !own.some((item) => item.severity === 'error')
}

function checkCapabilities(draft: JobDraft, { source, diagnostics }: RuleContext): void {
  const caps = draft.capabilities
  const { params, provider } = draft
  const error = (rule: string, path: DocPath, message: string, hint: string) => diagnostics.push(source.diagnostic('error', rule, path, message, hint))
  const warning = (rule: string, path: DocPath, message: string, hint: string) => diagnostics.push(source.diagnostic('warning', rule, path, message, hint))

  if (params.ratio === 'auto') {
    if (!caps.autoRatio) error('provider/ratio', draft.where('ratio'), `${provider} does not accept ratio "auto"`, 'Pick a fixed ratio such as "1:1".')
  } else if (!caps.sizes[params.ratio]) {
    const ratios = Object.keys(caps.sizes)
    error('provider/ratio', draft.where('ratio'), `${provider} cannot make ratio ${params.ratio}`, `${provider} supports: ${ratios.join(', ')}.`)
  } else if (!caps.sizes[params.ratio]?.[params.resolution]) {
    const ratios = ratiosWith(caps.sizes, params.resolution)
    const resolutions = Object.keys(caps.sizes[params.ratio] ?? {})
    error(
      'provider/resolution',
      draft.where('resolution'),
      `${provider} cannot make ${params.resolution} at ratio ${params.ratio}`,
      ratios.length > 0
        ? `${params.resolution} is available for ${ratios.join(', ')}; at ${params.ratio} use ${resolutions.join(' or ')}.`
        : `${provider} has no ${params.resolution}; use ${resolutions.join(' or ')}.`,
    )
  }
  if (draft.refs.length > caps.maxRefs) {
    error(
      'provider/max-refs',
      [...draft.docPath, 'refs'],
      `${provider} takes at most ${caps.maxRefs} reference images; this recipe has ${draft.refs.length}`,
      'Remove references or combine them into one image.',
    )
  }
  if (!caps.formats.includes(params.format)) {
    error('provider/format', draft.where('format'), `${provider} cannot output ${params.format}`, `Use ${caps.formats.join(' or ')}.`)
  }
  if (!caps.qualities.includes(params.quality)) {
    error('provider/quality', draft.where('quality'), `${provider} does not accept quality "${params.quality}"`, `Use ${caps.qualities.join(', ')}.`)
  }
  if (draft.mask !== undefined && !caps.mask.supported) {
    error('provider/mask', [...draft.docPath, 'mask'], `${provider} does not support masks`, 'Remove the mask or use a provider that supports it.')
  }
  for (const parameter of ['compression', 'background', 'inputFidelity', 'moderation'] as const) {
    if (params[parameter] !== undefined && !caps.parameters.includes(parameter)) {
      warning(
        'provider/ignored-parameter',
        draft.where(parameter),
        `${provider} ignores \`${parameter}\``,
        `Remove \`${parameter}\`, or accept that it has no effect on ${provider}.`,
      )
    }
  }
  if (params.compression !== undefined && params.format === 'png') {
    warning('params/compression-png', draft.where('compression'), '`compression` has no effect on png output', 'Remove it, or set `format: jpeg` or `webp`.')
  }
  if (params.background === 'transparent') {
    if (params.format === 'jpeg') {
      error(
        'params/transparent-jpeg',
        draft.where('background'),
        'a transparent background needs png or webp output; format is jpeg',
        'Set `format: png` or `webp`, or drop `background: transparent`.',
      )
    } else if (caps.transparentBackground === 'downgraded') {
      warning(
        'provider/transparent',
        draft.where('background'),
        `${provider} (${draft.model}) silently turns a transparent background into "auto"`,
        'Expect an opaque background, or use a provider that honours transparency.',
      )
    } else if (caps.transparentBackground === 'unsupported') {
      error('provider/transparent', draft.where('background'), `${provider} cannot make a transparent background`, 'Drop `background: transparent`.')
    }
  }
}

async function checkInputs(draft: JobDraft, context: RuleContext): Promise<void> {
  const resolved = await Promise.all(draft.refs.map((ref, index) => resolveInput(draft, ref, [...draft.docPath, 'refs', index], 'ref', context)))
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
  const first = resolved[0]?.input
  if (first?.kind === 'file' && (first.width !== mask.input.width || first.height !== mask.input.height)) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'mask/size',
        path,
        `mask ${draft.mask} is ${mask.input.width}×${mask.input.height} but the first ref ${draft.refs[0]} is ${first.width}×${first.height}${where}`,
        `Resize the mask to ${first.width}×${first.height}; it must match refs[0] exactly.`,
      ),
    )
  }
  if (mask.input.bytes > draft.capabilities.mask.maxBytes) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'mask/too-large',
        path,
        `mask ${draft.mask} is ${formatBytes(mask.input.bytes)}; ${draft.provider} takes at most ${formatBytes(draft.capabilities.mask.maxBytes)}`,
        'Save the mask with fewer colours or at a smaller size (same as refs[0]).',
      ),
    )
  }
}

async function resolveInput(draft: JobDraft, value: string, path: DocPath, role: 'ref' | 'mask', context: RuleContext): Promise<JobInput | undefined> {
  // A ref shared by many recipes is checked once; only a failure is checked again per use, so
  // each recipe gets its own located diagnostic.
  const memoKey = `${role}\u0000${draft.provider}\u0000${value}`
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
    if (!caps.refs.urls) {
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
  if (role === 'ref' && !caps.refs.formats.includes(image.format as InputFormat)) {
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
  if (role === 'ref' && lookup.info.size > caps.refs.maxBytes) {
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
