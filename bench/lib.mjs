// Shared helpers of the benchmark suite. Plain ESM JavaScript so `npm run bench` needs no build
// step beyond the packages themselves.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { access, mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
export const cliBin = join(repoRoot, 'packages/cli/bin/images-edit.js')

/** A scratch folder under the system temp dir; removed by the returned function. */
export async function scratch(name) {
  const dir = await mkdtemp(join(tmpdir(), `images-edit-bench-${name}-`))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** Runs a command and resolves with its wall time in ms, exit code and output. */
export function timed(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code, stdout, stderr }))
  })
}

/** Runs the images-edit CLI; fails loudly on an unexpected exit code. */
export async function cli(args, options = {}) {
  const result = await timed(process.execPath, [cliBin, ...args], options)
  if (options.expectCode !== undefined && result.code !== options.expectCode) {
    throw new Error(`images-edit ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`)
  }
  return result
}

/** Median and range of numbers. */
export function stats(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  return { median, min: sorted[0], max: sorted.at(-1), runs: sorted.length }
}

/** Repeats an async measurement `runs` times (after `warmup` unmeasured runs). */
export async function repeat(runs, measure, warmup = 0) {
  for (let index = 0; index < warmup; index++) await measure(index)
  const values = []
  for (let index = 0; index < runs; index++) values.push(await measure(index))
  return values
}

/** sha256 of files read one after another in one pass, the floor of hashing them. */
export async function hashFilesFloor(paths) {
  const started = process.hrtime.bigint()
  const buffer = Buffer.allocUnsafe(1 << 20)
  for (const path of paths) {
    const hash = createHash('sha256')
    const handle = await open(path, 'r')
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
    }
    await handle.close()
    hash.digest()
  }
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** Runs `fn` with at most `limit` promises in flight. */
export async function pool(items, limit, fn) {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      await fn(items[index], index)
    }
  })
  await Promise.all(workers)
}

/**
 * Runs per scenario for B5–B11 and B15–B16: `BENCH_RUNS` when set (e.g. `BENCH_RUNS=1 npm run bench -- B9` for a
 * quick check), else `fallback`.
 */
export function benchRuns(fallback = 5) {
  const value = Number(process.env.BENCH_RUNS)
  return Number.isInteger(value) && value > 0 ? value : fallback
}

/** Environment that points every hosted provider of the CLI at a fake provider server. */
export function fakeProviderEnv(server) {
  return {
    TOAPIS_API_KEY: server.apiKey,
    AA_API_KEY: server.apiKey,
    OPENAI_API_KEY: server.apiKey,
    IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrls.toapis,
    IMAGES_EDIT_AA_BASE_URL: server.baseUrls.aa,
    IMAGES_EDIT_OPENAI_BASE_URL: server.baseUrls.openai,
  }
}

/** The JSON lines of a `--json` run, parsed; lines that are not JSON are skipped. */
export function jsonEvents(stdout) {
  const events = []
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      events.push(JSON.parse(line))
    } catch {
      // a partial line: not an event
    }
  }
  return events
}

/**
 * Spawns a long-running command and hands every stdout line to `onLine(line, atMs)` as it arrives
 * (`atMs` = `performance.now()` on arrival). Returns the child and a promise of its exit code.
 */
export function spawnLines(command, args, options = {}) {
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let buffered = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    const at = performance.now()
    buffered += chunk
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      options.onLine?.(line, at)
    }
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stderr }))
  })
  return { child, exited, stderr: () => stderr }
}

/**
 * Runs a command and reports its peak resident set size (KiB) with its wall time: through GNU
 * `/usr/bin/time -f %M` when present (the kernel's ru_maxrss of the child), else by polling
 * `/proc/<pid>/status` VmHWM every 10 ms (the last reading before exit; a spike in the final
 * 10 ms could be missed).
 */
export async function peakRss(command, args, options = {}) {
  if (await hasGnuTime()) {
    const { dir, cleanup } = await scratch('rss')
    try {
      const file = join(dir, 'rss')
      const result = await timed('/usr/bin/time', ['-f', '%M', '-o', file, command, ...args], options)
      const kib = Number((await readFile(file, 'utf8')).trim().split('\n').at(-1))
      return { ...result, kib, method: '/usr/bin/time %M' }
    } finally {
      await cleanup()
    }
  }
  const started = process.hrtime.bigint()
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  let kib = 0
  const poll = setInterval(async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
      const match = /VmHWM:\s+(\d+) kB/.exec(status)
      if (match) kib = Math.max(kib, Number(match[1]))
    } catch {
      // exited between two polls
    }
  }, 10)
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  clearInterval(poll)
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, code, stdout, stderr, kib, method: '/proc VmHWM polling' }
}

let gnuTime
async function hasGnuTime() {
  if (gnuTime === undefined) {
    gnuTime = await access('/usr/bin/time', constants.X_OK).then(
      () => true,
      () => false,
    )
  }
  return gnuTime
}

/**
 * Wraps a command in GNU `/usr/bin/time` (when present) to learn its peak RSS and CPU time without
 * changing how it is spawned: run `wrapped.command` with `wrapped.args`, then `await wrapped.usage()`
 * gives `{ kib, userMs, sysMs }` (undefined without GNU time), and `wrapped.cleanup()`.
 */
export async function withUsage(command, args) {
  if (!(await hasGnuTime())) return { command, args, usage: async () => undefined, cleanup: async () => {} }
  const { dir, cleanup } = await scratch('usage')
  const file = join(dir, 'usage')
  return {
    command: '/usr/bin/time',
    args: ['-f', '%M %U %S', '-o', file, command, ...args],
    usage: async () => {
      const line = (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').at(-1) ?? ''
      const [kib, user, sys] = line.split(' ').map(Number)
      return Number.isFinite(kib) ? { kib, userMs: user * 1000, sysMs: sys * 1000 } : undefined
    },
    cleanup,
  }
}
