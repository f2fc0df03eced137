/**
 * Test-only preload (`node --import`), never shipped: makes file-system calls on matching paths
 * fail the way a full or read-only disk does, which `chmod` cannot do for root.
 *
 * IMAGES_EDIT_TEST_FS_FAULT = "<CODE>:<regex>" — every `open` for writing (and `rename`, `mkdir`)
 * of a path matching the regex fails with that errno code (ENOSPC, EROFS, EACCES, EDQUOT…).
 */
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'

const spec = process.env.IMAGES_EDIT_TEST_FS_FAULT ?? ''
const colon = spec.indexOf(':')
if (colon > 0) {
  const code = spec.slice(0, colon)
  const pattern = new RegExp(spec.slice(colon + 1))
  const fail = (syscall, path) => {
    const error = new Error(`${code}: injected by the test, ${syscall} '${path}'`)
    Object.assign(error, { code, errno: -28, syscall, path: String(path) })
    return error
  }
  const writing = (flags) =>
    typeof flags === 'string' ? /[wa+x]/.test(flags) : typeof flags === 'number' && (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0
  const promises = fs.promises
  const { open, rename, mkdir, writeFile } = promises
  promises.open = async (path, flags, ...rest) => {
    if (writing(flags) && pattern.test(String(path))) throw fail('open', path)
    return open(path, flags, ...rest)
  }
  promises.rename = async (from, to) => {
    if (pattern.test(String(to))) throw fail('rename', to)
    return rename(from, to)
  }
  promises.mkdir = async (path, ...rest) => {
    if (pattern.test(String(path))) throw fail('mkdir', path)
    return mkdir(path, ...rest)
  }
  promises.writeFile = async (path, ...rest) => {
    if (pattern.test(String(path))) throw fail('open', path)
    return writeFile(path, ...rest)
  }
  syncBuiltinESMExports()
}
