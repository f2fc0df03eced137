/**
 * The engine's three guards for touching the file system:
 *
 * - {@link realPathOf} / {@link checkProjectPath}: where a project path really leads (symlinks
 *   resolved up to the deepest existing ancestor), and whether that is inside the project and not
 *   one of the files images-edit itself keeps (lock, manifest, `.env`, `.images-edit/`, `.git/`…).
 * - {@link readBounded}: reads a file only when it is a regular file under a size cap per kind.
 * - {@link fsError}: turns an ordinary file-system error (read-only, full disk, permissions) into a
 *   user-facing {@link ImagesEditError} naming the path, what was being done, and the fix.
 */
import { constants, type Stats } from 'node:fs'
import { lstat, open, readlink, realpath, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { ImagesEditError } from '../errors.js'
import { LOCK_NAME, MANIFEST_NAME, STORE_DIR } from '../manifest/types.js'

const MB = 1024 * 1024

/** Size caps of every kind of file images-edit reads whole. */
export const READ_CAPS = {
  manifest: 8 * MB,
  lock: 128 * MB,
  env: 1 * MB,
  cache: 256 * MB,
  journal: 1 * MB,
  record: 16 * MB,
  ledger: 64 * MB,
  output: 512 * MB,
} as const

/** A kind of file with a read cap. */
export type ReadKind = keyof typeof READ_CAPS

const KIND_NAMES: Record<ReadKind, string> = {
  manifest: 'manifest',
  lock: 'lock file',
  env: '.env file',
  cache: 'cache file',
  journal: 'journal entry',
  record: 'store record',
  ledger: 'output ledger',
  output: 'output image',
}

/**
 * Reads a whole file when it is a regular file (a symlink is followed) of at most the cap for its
 * kind. A device, FIFO or folder, or a file over the cap, is an {@link ImagesEditError} naming the
 * file; so is any read error other than a missing file, which gives undefined when `missingOk`.
 */
export async function readBounded(path: string, kind: ReadKind, options: { missingOk: true; prefix?: boolean }): Promise<Buffer | undefined>
export async function readBounded(path: string, kind: ReadKind, options?: { missingOk?: false; prefix?: boolean }): Promise<Buffer>
export async function readBounded(path: string, kind: ReadKind, options: { missingOk?: boolean; prefix?: boolean } = {}): Promise<Buffer | undefined> {
  const cap = READ_CAPS[kind]
  // `prefix`: a regular file over the cap gives its first cap + 1 bytes, for a caller that reports
  // the size itself (the manifest's located `yaml/too-large`).
  const sizeCap = options.prefix ? Number.POSITIVE_INFINITY : cap
  let handle: Awaited<ReturnType<typeof open>>
  try {
    // Checked before opening: opening a FIFO blocks, and /dev/zero never ends.
    const info = await stat(path)
    checkReadable(path, kind, info, sizeCap)
    // O_NONBLOCK: should the path be swapped for a FIFO after the stat, open does not hang.
    handle = await open(path, constants.O_RDONLY | (process.platform === 'win32' ? 0 : constants.O_NONBLOCK))
  } catch (error) {
    if (options.missingOk && isMissing(error)) return undefined
    throw ImagesEditError.is(error) ? error : fsError(error, { path, doing: `reading the ${KIND_NAMES[kind]}` })
  }
  try {
    const info = await handle.stat()
    checkReadable(path, kind, info, sizeCap)
    const buffer = Buffer.allocUnsafe(Math.min(info.size, cap) + 1)
    let length = 0
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
      if (length > cap) {
        if (options.prefix) break
        throw tooLarge(path, kind, cap)
      }
      if (length === buffer.length) break
    }
    return buffer.subarray(0, length)
  } catch (error) {
    throw ImagesEditError.is(error) ? error : fsError(error, { path, doing: `reading the ${KIND_NAMES[kind]}` })
  } finally {
    await handle.close().catch(() => {})
  }
}

/** {@link readBounded} as UTF-8 text. */
export async function readBoundedText(path: string, kind: ReadKind, options: { missingOk: true }): Promise<string | undefined>
export async function readBoundedText(path: string, kind: ReadKind): Promise<string>
export async function readBoundedText(path: string, kind: ReadKind, options: { missingOk?: boolean } = {}): Promise<string | undefined> {
  const bytes = options.missingOk ? await readBounded(path, kind, { missingOk: true }) : await readBounded(path, kind)
  return bytes?.toString('utf8')
}

/** A cache read: undefined when missing, unreadable, not a regular file or over the cap (a cache is only a cache). */
export async function readCacheText(path: string): Promise<string | undefined> {
  return readBoundedText(path, 'cache', { missingOk: true }).catch(() => undefined)
}

function checkReadable(path: string, kind: ReadKind, info: Stats, cap: number): void {
  if (!info.isFile()) {
    throw new ImagesEditError(
      'STORE',
      `${path} is not a regular file (${describeType(info)}), so images-edit does not read it as the ${KIND_NAMES[kind]}. Replace it with a regular file${kind === 'env' ? ', or remove it' : ''}.`,
    )
  }
  if (info.size > cap) throw tooLarge(path, kind, cap)
}

function tooLarge(path: string, kind: ReadKind, cap: number): ImagesEditError {
  return new ImagesEditError(
    'STORE',
    `${path} is larger than ${Math.round(cap / MB)} MiB, the most images-edit reads as the ${KIND_NAMES[kind]}; it is not read. Check that it is the right file (not a link to a device or a huge file).`,
  )
}

function describeType(info: Stats): string {
  if (info.isDirectory()) return 'a folder'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  if (info.isFIFO()) return 'a named pipe'
  if (info.isSocket()) return 'a socket'
  return 'not a file'
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT'
}

// ---------------------------------------------------------------------------------------------
// Paths

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

// ---------------------------------------------------------------------------------------------
// File-system errors

const FS_ERRORS: Record<string, { what: string; fix: string }> = {
  EACCES: { what: 'permission denied', fix: 'Give your user write access to it (check its owner and mode), then rerun.' },
  EPERM: { what: 'operation not permitted', fix: 'Check its permissions and attributes (e.g. `lsattr`, immutable or read-only flags), then rerun.' },
  EROFS: {
    what: 'the file system is read-only',
    fix: 'Run images-edit where the project is writable (remount it read-write, or copy the project), then rerun.',
  },
  ENOSPC: { what: 'the disk is full', fix: 'Free some disk space, then rerun.' },
  EDQUOT: { what: 'your disk quota is exceeded', fix: 'Free some space within your quota, then rerun.' },
  EMFILE: { what: 'too many open files', fix: 'Raise the open-file limit (`ulimit -n`), or lower `concurrency`, then rerun.' },
  ENFILE: { what: 'the system has too many open files', fix: 'Close other programs or raise the system limit, then rerun.' },
  ENOTDIR: { what: 'a part of the path is a file, not a folder', fix: 'Rename or remove the file that is in the way, then rerun.' },
  EISDIR: { what: 'it is a folder, not a file', fix: 'Rename or remove the folder that is in the way, then rerun.' },
  EEXIST: { what: 'something already exists there', fix: 'Remove what is in the way, then rerun.' },
  ENAMETOOLONG: { what: 'the name is too long', fix: 'Use a shorter output name or folder, then rerun.' },
  ELOOP: { what: 'too many symbolic links (a loop?)', fix: 'Fix the symbolic links on the path, then rerun.' },
  EBUSY: { what: 'the file is busy', fix: 'Close the program using it, then rerun.' },
  ETXTBSY: { what: 'the file is busy', fix: 'Close the program using it, then rerun.' },
  EIO: { what: 'an input/output error (disk or network file system)', fix: 'Check the disk, then rerun.' },
  EFBIG: { what: 'the file is too large for the file system', fix: 'Use a file system that takes larger files, then rerun.' },
  ENOENT: { what: 'no such file or folder', fix: 'Check that the folder exists and was not removed while images-edit ran, then rerun.' },
}

/** Whether an error is an ordinary file-system error {@link fsError} knows how to explain. */
export function isFsError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && code in FS_ERRORS && typeof (error as NodeJS.ErrnoException).syscall === 'string'
}

/**
 * The one place an ordinary file-system error becomes a user-facing {@link ImagesEditError}: the
 * path, what images-edit was doing, what went wrong and the fix. `after` is added last (e.g. that
 * the paid result is safe and a rerun is free). Anything else is returned unchanged.
 */
export function fsError(error: unknown, context: { path?: string; doing: string; after?: string }): Error {
  if (ImagesEditError.is(error)) {
    // Already explained deeper down (e.g. by writeFileAtomic): only what to do afterwards is added.
    if (!context.after || !isFsError(error.cause) || error.message.includes(context.after)) return error
    return new ImagesEditError(error.code, `${error.message} ${context.after}`, { cause: error.cause })
  }
  if (!isFsError(error)) return error instanceof Error ? error : new Error(String(error))
  const known = FS_ERRORS[error.code as string] as { what: string; fix: string }
  const where = context.path ?? error.path
  const doing = where && !context.doing.includes(where) ? `${context.doing} (${where})` : context.doing
  // Where it failed, when that is not the path itself (a folder on the way); temporary files are noise.
  const at = error.path && error.path !== where && !basename(error.path).startsWith('.images-edit-tmp-') ? ` at ${error.path}` : ''
  return new ImagesEditError('STORE', `${doing} failed${at}: ${known.what} [${error.code}]. ${known.fix}${context.after ? ` ${context.after}` : ''}`, {
    cause: error,
  })
}

/** Runs `work`, turning an ordinary file-system error into a user-facing one (see {@link fsError}). */
export async function withFsErrors<T>(context: { path?: string; doing: string; after?: string }, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw fsError(error, context)
  }
}
