/**
 * Bounded reads: a file is read whole only when it is a regular file (a symlink is followed) under
 * the size cap of its kind, so a manifest linked to /dev/zero or a FIFO never hangs or fills memory.
 */
import { constants, type Stats } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { ImagesEditError } from '../errors.js'
import { fsError } from './fs-errors.js'

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
