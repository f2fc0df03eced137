/**
 * Ordinary file-system errors (read-only, full disk, permissions…) turned into user-facing
 * {@link ImagesEditError}s naming the path, what was being done, what went wrong and the fix.
 */
import { basename } from 'node:path'
import { ImagesEditError } from '../errors.js'

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
