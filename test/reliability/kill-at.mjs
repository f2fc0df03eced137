/**
 * Test-only preload (`node --import`), never shipped: kills the process with SIGKILL, exactly as
 * `kill -9` would, the n-th time it performs a matching file operation or HTTP exchange. The crash
 * tests place their kills with it, so the product carries no fault hook of its own.
 *
 * IMAGES_EDIT_TEST_KILL_AT = JSON `{ "on": <event>, "match": <regex>, "nth": <n, default 1> }`
 *
 * - `open`: before a file whose path matches is opened for writing (nothing of it written yet);
 * - `rename`: before a file is renamed onto a matching path (the temporary file is complete, the
 *   target still has its old content);
 * - `renamed`: right after a file was renamed onto a matching path (the new content is in place);
 * - `request`: an HTTP request is created, before any of its bytes are sent — `match` is tested
 *   on `"<METHOD> <path>"` (undici's `undici:request:create` diagnostics channel);
 * - `response`: an HTTP response has arrived in full (`undici:request:trailers`), before the
 *   engine acts on it — `match` as for `request`.
 *
 * Before dying it writes `kill-at: SIGKILL at <event> <subject> (arrival <n>)` to stderr.
 * Paths are absolute, with forward slashes. A malformed spec throws at start-up, so a typo never
 * silently turns a crash test into a plain build.
 */
import { subscribe } from 'node:diagnostics_channel'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'

const raw = process.env.IMAGES_EDIT_TEST_KILL_AT
if (raw) {
  const spec = JSON.parse(raw)
  const events = ['open', 'rename', 'renamed', 'request', 'response']
  if (!events.includes(spec.on) || typeof spec.match !== 'string') throw new Error(`kill-at.mjs: bad IMAGES_EDIT_TEST_KILL_AT ${raw}`)
  const pattern = new RegExp(spec.match)
  const nth = Number(spec.nth ?? 1)
  let seen = 0
  /** Counts a matching arrival of the event and dies on the n-th. */
  const reach = (event, subject) => {
    if (event !== spec.on || !pattern.test(subject)) return
    seen++
    if (seen < nth) return
    // Said synchronously, so the test can tell this kill from its own timeout's.
    fs.writeSync(2, `kill-at: SIGKILL at ${event} ${subject} (arrival ${seen})\n`)
    process.kill(process.pid, 'SIGKILL')
  }
  const slashes = (path) => String(path).replaceAll('\\', '/')
  const writing = (flags) =>
    typeof flags === 'string' ? /[wa+x]/.test(flags) : typeof flags === 'number' && (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0

  const promises = fs.promises
  const { open, rename } = promises
  promises.open = async (path, flags, ...rest) => {
    if (writing(flags)) reach('open', slashes(path))
    return open(path, flags, ...rest)
  }
  promises.rename = async (from, to) => {
    reach('rename', slashes(to))
    await rename(from, to)
    reach('renamed', slashes(to))
  }
  syncBuiltinESMExports()

  const exchange = (request) => `${request.method} ${request.path}`
  subscribe('undici:request:create', ({ request }) => reach('request', exchange(request)))
  subscribe('undici:request:trailers', ({ request }) => reach('response', exchange(request)))
}
