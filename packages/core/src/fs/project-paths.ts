/**
 * Where a project path really leads (symlinks resolved up to the deepest existing ancestor), and
 * whether that is inside the project and not one of the files images-edit itself keeps (lock,
 * manifest, `.env`, `.images-edit/`, `.git/`…). One check for every path read from the manifest,
 * the lock or the ledger, and again right before every write.
 */
import { lstat, readlink, realpath } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { ImagesEditError } from '../errors.js'
import { LOCK_NAME, MANIFEST_NAME, STORE_DIR } from '../manifest/types.js'

/**
 * Where `path` really leads: the realpath of its deepest existing ancestor (or of the path itself
 * when it exists), joined with the parts that do not exist yet. A symlink anywhere on the way is
 * followed; a symlink as the last part is followed too when `followLast` (reading), and kept as
 * is otherwise (an atomic write replaces the link, it never writes through it).
 */
export async function realPathOf(path: string, options: { followLast?: boolean } = {}): Promise<string> {
  const absolute = resolve(path)
  if (!options.followLast) {
    const parent = dirname(absolute)
    if (parent === absolute) return absolute
    return join(await realPathOf(parent, { followLast: true }), basename(absolute))
  }
  const rest: string[] = []
  let current = absolute
  for (let links = 0; ; ) {
    try {
      const real = await realpath(current)
      return rest.length > 0 ? join(real, ...[...rest].reverse()) : real
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const parent = dirname(current)
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) {
        return rest.length > 0 ? join(current, ...[...rest].reverse()) : current
      }
      // A dangling link is not "missing": a write through it lands at its target. Follow it by hand.
      const link = await lstat(current).catch(() => undefined)
      if (link?.isSymbolicLink() && links++ < 40) {
        current = resolve(dirname(current), await readlink(current))
        continue
      }
      rest.push(basename(current))
      current = parent
    }
  }
}

/** Whether `path` is `folder` or inside it. */
export function isInside(folder: string, path: string): boolean {
  const relation = relative(folder, path)
  return relation === '' || (!relation.startsWith(`..${sep}`) && relation !== '..' && !isAbsolute(relation))
}

/** Folders at the project root images-edit never writes into: its own store and other tools'. */
const RESERVED_FOLDERS = [STORE_DIR, '.git', 'node_modules', '.hg', '.svn']

/**
 * Why a path relative to the project root is one images-edit must never write an output to, or
 * undefined when it may: the lock, the manifest (`manifestName`), `.env`/`.env.*`, and anything
 * in `.images-edit/`, `.git/`, `node_modules/`… Compared case-insensitively (macOS and Windows).
 */
export function reservedReason(relativePath: string, manifestName: string = MANIFEST_NAME): string | undefined {
  const parts = relativePath.split(/[\\/]+/).filter((part) => part !== '' && part !== '.')
  const first = parts[0]?.toLowerCase()
  if (first === undefined) return 'it is the project folder itself'
  const folder = RESERVED_FOLDERS.find((name) => name.toLowerCase() === first)
  if (folder && parts.length > 1) return `it is inside ${folder}/, which images-edit never writes outputs into`
  if (folder) return `it is ${folder}, which images-edit never writes outputs into`
  if (parts.length !== 1) return undefined
  if (first === LOCK_NAME.toLowerCase()) return 'it is the lock file'
  if (first === manifestName.toLowerCase() || first === MANIFEST_NAME.toLowerCase()) return 'it is the manifest'
  if (first === '.env' || first.startsWith('.env.')) return 'it is an environment file with keys'
  if (first === '.gitignore' || first === '.gitattributes') return 'it is a git settings file'
  return undefined
}

/** Options of {@link checkProjectPath}. */
export interface PathCheckOptions {
  /** The path is about to be written (or deleted): its last part is not followed, and it must not be reserved. */
  write?: boolean
  /** `security.allowOutsideProject`: only the reserved names are refused. */
  allowOutside?: boolean
  /** File name of the manifest, when not `images.edit.yaml`. */
  manifestName?: string
  /** The project root with symlinks resolved, when already known. */
  realRoot?: string
  /** Memoized {@link realPathOf} of a folder (thousands of outputs share a few folders). */
  realFolder?: (folder: string) => Promise<string>
}

/** A memoized `realPathOf(folder, { followLast: true })` for {@link PathCheckOptions.realFolder}. */
export function realFolderMemo(): (folder: string) => Promise<string> {
  const memo = new Map<string, Promise<string>>()
  return (folder) => {
    let found = memo.get(folder)
    if (!found) {
      found = realPathOf(folder, { followLast: true })
      memo.set(folder, found)
    }
    return found
  }
}

/** What {@link checkProjectPath} found. */
export type PathCheck = { ok: true; real: string } | { ok: false; real: string; kind: 'outside' | 'reserved'; reason: string }

/**
 * The one check of a project path images-edit reads or writes (from the manifest, the lock or the
 * ledger): it must be relative, stay inside the project once symlinks are resolved, and (for a
 * write) not be one of the files images-edit keeps for itself.
 */
export async function checkProjectPath(root: string, path: string, options: PathCheckOptions = {}): Promise<PathCheck> {
  const absolute = resolve(root, path)
  const realRoot = options.realRoot ?? (await realpath(root).catch(() => resolve(root)))
  const real =
    options.write && options.realFolder
      ? join(await options.realFolder(dirname(absolute)), basename(absolute))
      : await realPathOf(absolute, { followLast: !options.write })
  if (!options.allowOutside) {
    if (!isInside(resolve(root), absolute)) return { ok: false, real, kind: 'outside', reason: `${path} is outside the project folder ${root}` }
    if (!isInside(realRoot, real))
      return { ok: false, real, kind: 'outside', reason: `${path} leads outside the project folder ${root} (really ${real}, through a symbolic link)` }
  }
  if (options.write) {
    // Judged where the path really leads: `out/link/…` may land at the root through a link.
    const reason = isInside(realRoot, real) ? reservedReason(relative(realRoot, real), options.manifestName) : undefined
    if (reason) return { ok: false, real, kind: 'reserved', reason: `${path} cannot be an output: ${reason}` }
  }
  return { ok: true, real }
}

/**
 * {@link checkProjectPath} for a path about to be written, throwing a user-facing error: called
 * right before every write, since a folder can be swapped for a link after validation.
 */
export async function assertWritable(root: string, path: string, options: Omit<PathCheckOptions, 'write'> = {}): Promise<void> {
  const check = await checkProjectPath(root, path, { ...options, write: true })
  if (!check.ok) {
    throw new ImagesEditError('STORE', `refusing to write ${path}: ${check.reason}. Nothing was written there; fix the folder (remove the link) and rerun.`)
  }
}

/** A path from the lock or the ledger is plain relative, with no `..` part and no drive or root. */
export function isPlainRelative(path: string): boolean {
  if (path === '' || isAbsolute(path) || /^[a-z]:/i.test(path) || path.includes('\u0000')) return false
  return !path.split(/[\\/]+/).some((part) => part === '..')
}
