/**
 * The engine's three guards for touching the file system:
 *
 * - {@link realPathOf} / {@link checkProjectPath}: where a project path really leads (symlinks
 *   resolved up to the deepest existing ancestor), and whether that is inside the project and not
 *   one of the files images-edit itself keeps (lock, manifest, `.env`, `.images-edit/`, `.git/`…).
 * - {@link readBounded}: reads a file only when it is a regular file under a size cap per kind.
 * - {@link fsError}: turns an ordinary file-system error (read-only, full disk, permissions) into a
 *   user-facing {@link ImagesEditError} naming the path, what was being done, and the fix.
 *
 * Each guard lives in its own module (`project-paths.ts`, `bounded-read.ts`, `fs-errors.ts`); this
 * module gathers them, so every caller has one place to import them from.
 */
export { READ_CAPS, type ReadKind, readBounded, readBoundedText, readCacheText } from './bounded-read.js'
export { fsError, isFsError, withFsErrors } from './fs-errors.js'
export {
  assertWritable,
  checkProjectPath,
  isInside,
  isPlainRelative,
  type PathCheck,
  type PathCheckOptions,
  realFolderMemo,
  realPathOf,
  reservedReason,
} from './project-paths.js'
