import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, chmod, copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { withFsErrors } from '../fs/project-fs.js'
import { sha256 as sha256Of } from '../hash/content-hash.js'
import { isProcessAlive } from './process-alive.js'

/** Every temporary file images-edit writes carries this marker, so a crashed run's leftovers can be swept. */
export const TEMP_MARKER = '.images-edit-tmp-'

/**
 * Writes a file so that a reader sees either the old bytes or the new bytes, never a part:
 * temporary file in the same folder, fsync, rename over the target, fsync the folder.
 *
 * Hand-written instead of `write-file-atomic` because we need our own temporary-file name
 * (see {@link TEMP_MARKER}) to sweep leftovers of a `kill -9`, and a folder fsync for the rename.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  // A read-only or full disk is the user's environment, not a bug: a plain message with the path.
  await withFsErrors({ path, doing: `writing ${path}` }, () => writeAtomically(path, data))
}

/**
 * Copies `source` to `target` atomically, verified: a kernel copy (a reflink where the file system
 * has them) into a temporary file beside the target, hashed as it is read back in small chunks,
 * fsynced, renamed over the target. No whole-file buffer passes through JavaScript, which is what
 * restoring hundreds of multi-MB outputs spent its time on (allocating, then collecting, them).
 * `damaged` only when the source itself does not hash to `sha256`; a copy that came out wrong
 * while the source is sound (a file system whose copy is unreliable) is redone through memory.
 * `missing` and `damaged` leave the target untouched.
 *
 * With `trusted` (the source is a file this process wrote from bytes it had verified, and it is
 * still that file: same inode, size and mtime) the copy is not read back: hashing every output
 * again was a third of a fresh clone's restore time.
 */
export async function copyFileVerified(
  source: string,
  sha256: string,
  target: string,
  options: { trusted?: boolean } = {},
): Promise<'copied' | 'missing' | 'damaged'> {
  // The source first, as the store: missing is an answer, unreadable is the store's problem.
  const readable = await withFsErrors({ path: source, doing: 'reading the stored image' }, () =>
    access(source, constants.R_OK).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false
        throw error
      },
    ),
  )
  if (!readable) return 'missing'
  return withFsErrors({ path: target, doing: `writing ${target}` }, async () => {
    const folder = dirname(target)
    await mkdir(folder, { recursive: true })
    const temporary = join(folder, `${TEMP_MARKER}${basename(target)}-${process.pid}-${randomBytes(4).toString('hex')}`)
    let renamed = false
    try {
      // Created first so it gets the mode any new file gets here (the umask's); the copy would
      // give it the store object's mode (read-only, say), which an output must not inherit.
      const created = await open(temporary, 'wx')
      const mode = (await created.stat()).mode & 0o777
      await created.close()
      await copyFile(source, temporary, constants.COPYFILE_FICLONE).catch((error: NodeJS.ErrnoException) => {
        // The source was readable a moment ago: what failed is the writing side, named as the target.
        error.path = temporary
        throw error
      })
      await chmod(temporary, mode)
      if (!options.trusted && (await hashFile(temporary)) !== sha256) {
        // The source decides: damaged, or sound and the copy went wrong (then written through memory).
        const bytes = await readFile(source)
        if (sha256Of(bytes) !== sha256) return 'damaged'
        await writeAtomically(target, bytes)
        return 'copied'
      }
      const handle = await open(temporary, 'r+')
      try {
        await handle.sync()
      } finally {
        await handle.close().catch(() => {})
      }
      await rename(temporary, target)
      renamed = true
    } finally {
      if (!renamed) await rm(temporary, { force: true })
    }
    await syncFolder(folder)
    return 'copied'
  })
}

/** sha256 of a file, read in 1 MiB chunks. */
async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  const handle = await open(path, 'r')
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false })) hash.update(chunk as Buffer)
  } finally {
    await handle.close().catch(() => {})
  }
  return hash.digest('hex')
}

/** Bytes gathered before one `writev`: a download arrives in 16–64 KiB chunks, each a thread-pool round trip if written alone. */
const STREAM_BATCH = 1024 * 1024

/**
 * Writes what `source` yields to `path` atomically, hashing it on the way, and renames it into
 * place only when it hashes to `sha256` (false otherwise, with the temporary file removed and
 * `path` untouched). One pass over the bytes, none of them held beyond a 1 MiB batch: what a
 * download streamed into the store needs. A failing source or write throws (nothing renamed).
 */
export async function writeStreamVerified(path: string, source: AsyncIterable<Uint8Array>, sha256: string): Promise<boolean> {
  const folder = dirname(path)
  const temporary = join(folder, `${TEMP_MARKER}${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`)
  let renamed = false
  try {
    const hash = createHash('sha256')
    const matched = await withFsErrors({ path, doing: `writing ${path}` }, async () => {
      await mkdir(folder, { recursive: true })
      const handle = await open(temporary, 'wx')
      try {
        let batch: Uint8Array[] = []
        let batched = 0
        for await (const chunk of source) {
          hash.update(chunk)
          batch.push(chunk)
          batched += chunk.byteLength
          if (batched < STREAM_BATCH) continue
          await writeAll(handle, batch, batched)
          batch = []
          batched = 0
        }
        if (batched > 0) await writeAll(handle, batch, batched)
        if (hash.digest('hex') !== sha256) return false
        await handle.sync()
      } finally {
        await handle.close().catch(() => {})
      }
      return true
    })
    if (!matched) return false
    await withFsErrors({ path, doing: `writing ${path}` }, () => rename(temporary, path))
    renamed = true
  } finally {
    if (!renamed) await rm(temporary, { force: true })
  }
  await syncFolder(folder)
  return true
}

/** `writev`, then whatever a short write left (possible, if rare, on a regular file). */
async function writeAll(handle: Awaited<ReturnType<typeof open>>, chunks: Uint8Array[], length: number): Promise<void> {
  let { bytesWritten } = await handle.writev(chunks)
  if (bytesWritten >= length) return
  const rest = Buffer.concat(chunks, length)
  while (bytesWritten < length) bytesWritten += (await handle.write(rest, bytesWritten, length - bytesWritten)).bytesWritten
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const folder = dirname(path)
  await mkdir(folder, { recursive: true })
  const temporary = join(folder, `${TEMP_MARKER}${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`)
  const handle = await open(temporary, 'wx')
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(temporary, { force: true })
    throw error
  }
  await handle.close()
  try {
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
  await syncFolder(folder)
}

async function syncFolder(folder: string): Promise<void> {
  // Makes the rename itself durable. Not every platform can open a folder (Windows); there the
  // rename is as durable as the OS makes it.
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(folder, 'r')
    await handle.sync()
  } catch {
    // ignore: best effort
  } finally {
    await handle?.close().catch(() => {})
  }
}

/**
 * Removes temporary files left by a process that died mid-write (`kill -9`, power loss). A file
 * whose writer is still alive is left alone unless it is older than `staleAfterMs`.
 */
export async function sweepTemporaryFiles(folder: string, staleAfterMs = 3_600_000): Promise<number> {
  let names: string[]
  try {
    names = await readdir(folder)
  } catch {
    return 0
  }
  let removed = 0
  for (const name of names) {
    if (!name.startsWith(TEMP_MARKER)) continue
    const path = join(folder, name)
    const writer = Number(name.split('-').at(-2))
    const info = await stat(path).catch(() => undefined)
    if (!info) continue
    if (isProcessAlive(writer) && Date.now() - info.mtimeMs < staleAfterMs) continue
    await rm(path, { force: true })
    removed++
  }
  return removed
}

/** `copyObjectTo` of every store: the verified bytes `read` gives, written atomically; false (target untouched) when there are none. */
export async function copyVerifiedTo(read: () => Promise<Uint8Array | undefined>, target: string): Promise<boolean> {
  const bytes = await read()
  if (!bytes) return false
  await writeFileAtomic(target, bytes)
  return true
}
