// Shared helpers of the benchmark suite. Plain ESM JavaScript so `npm run bench` needs no build
// step beyond the packages themselves.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
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
