// Layer 3, files: resolving one ref or mask of a job (a URL or a file) and checking it is usable.
import { realpath } from 'node:fs/promises'
import { basename, dirname, join, posix, resolve } from 'node:path'
import { isInside } from '../fs/project-fs.js'
import { type FileInfo, type FileLookup, MAX_INPUT_PIXELS } from '../hash/file-index.js'
import type { InputFormat } from '../providers/provider.js'
import { nearbyName } from './did-you-mean.js'
import type { JobInput } from './job.js'
import type { JobDraft, RuleContext } from './rules.js'
import type { DocPath } from './source.js'

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

const MB = 1024 * 1024

/** One use of an input: which job, what was written, where, and as what. */
interface InputUse {
  draft: JobDraft
  value: string
  path: DocPath
  role: 'ref' | 'mask'
  context: RuleContext
  /** ` (for <file>)` for a job of an `each` recipe, else empty: appended to the messages. */
  where: string
}

/**
 * Resolves a ref or mask of a job, pushing a located diagnostic when it is unusable. A ref shared
 * by many recipes is checked once per load.
 */
export async function resolveInput(draft: JobDraft, value: string, path: DocPath, role: 'ref' | 'mask', context: RuleContext): Promise<JobInput | undefined> {
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

/** A size in KiB or MiB, as the messages give it. */
export function formatBytes(bytes: number): string {
  return bytes >= MB ? `${(bytes / MB).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`
}

async function resolveInputOnce(draft: JobDraft, value: string, path: DocPath, role: 'ref' | 'mask', context: RuleContext): Promise<JobInput | undefined> {
  const where = draft.eachFile ? ` (for ${draft.eachFile})` : ''
  const use: InputUse = { draft, value, path, role, context, where }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return resolveUrl(use)
  return resolveFile(use)
}

/** A URL input: https (or loopback http when allowed), to a provider that takes URLs. */
function resolveUrl({ draft, value, path, role, context }: InputUse): JobInput | undefined {
  const { source, diagnostics } = context
  const caps = draft.capabilities
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
      source.diagnostic('error', `${role}/url`, path, `${draft.provider} cannot take URL references`, 'Download the image into the project and give its path.'),
    )
    return undefined
  }
  return { source: value, input: { kind: 'url', url: url.href } }
}

/** A file input: it exists, is inside the project (unless allowed), and is an image the provider takes. */
async function resolveFile(use: InputUse): Promise<JobInput | undefined> {
  const { value, context } = use
  const { fileIndex, root } = context
  const absolute = resolve(root, value)
  const relativePath = posix.relative(root.split('\\').join('/'), absolute.split('\\').join('/'))
  const lookup = await fileIndex.lookup(absolute, { image: true })
  if (!lookup.ok) {
    await reportUnreadable(use, absolute, lookup)
    return undefined
  }
  if (!context.security.allowOutsideProject && !(await isInProject(use, absolute, lookup.info))) return undefined
  const image = lookup.info.image
  if (!image || !isUsableImage(use, lookup.info)) return undefined
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

/** A file that is missing, not a file or unreadable; a missing one gets the closest name nearby. */
async function reportUnreadable({ value, path, role, context, where }: InputUse, absolute: string, lookup: Extract<FileLookup, { ok: false }>): Promise<void> {
  const { source, diagnostics, root } = context
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
}

/** Whether the file really is inside the project; pushes `outside-project` when it is not. */
async function isInProject({ value, path, role, context, where }: InputUse, absolute: string, info: FileInfo): Promise<boolean> {
  const { source, diagnostics, root } = context
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
  const real = info.symlink ? await memo(absolute) : join(await memo(dirname(absolute)), basename(absolute))
  if (isInside(context.realRoot, real)) return true
  diagnostics.push(
    source.diagnostic(
      'error',
      `${role}/outside-project`,
      path,
      `${value}${real !== absolute ? ` (a link to ${real})` : ''} is outside the project folder ${root}${where}`,
      'Move the file into the project, or set `security.allowOutsideProject: true` in the manifest if reaching outside is intended.',
    ),
  )
  return false
}

/** Whether the file is an image of a size images-edit reads and of a format and size the provider takes. */
function isUsableImage({ draft, value, path, role, context, where }: InputUse, info: FileInfo): boolean {
  const { source, diagnostics } = context
  const caps = draft.capabilities
  const image = info.image
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
    return false
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
    return false
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
    return false
  }
  if (role === 'ref' && caps && info.size > caps.refs.maxBytes) {
    diagnostics.push(
      source.diagnostic(
        'error',
        'ref/too-large',
        path,
        `${value} is ${formatBytes(info.size)}; ${draft.provider} takes at most ${formatBytes(caps.refs.maxBytes)} per reference${where}`,
        'Save a smaller or more compressed version.',
      ),
    )
    return false
  }
  return true
}
