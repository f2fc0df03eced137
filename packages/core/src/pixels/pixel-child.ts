// Pixel work off the engine's heap: full decodes and upload re-encodes run in one child process
// (packages/core/child/pixels.mjs), at most PIXEL_SLOTS at a time whatever the job concurrency.
import { type ChildProcess, fork } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import pLimit from 'p-limit'

/** What the child does: a full decode check, or a re-encode written to `out`. */
export type PixelTask =
  | { op: 'decodes'; path: string; limitInputPixels: number }
  | { op: 'png'; path: string; out: string }
  | { op: 'jpeg'; path: string; out: string; limit: number }
  | { op: 'stats' }

/**
 * Concurrent pixel tasks. Sized by memory, not by jobs: each decode of a 17 MP ref streams ~10 MiB
 * through the decoder and encoder (sequential read), and two keep both cores of a small machine
 * busy; more only queue up inside libvips while holding their buffers.
 */
export const PIXEL_SLOTS = Math.max(1, Math.min(2, availableParallelism()))

/** How long an idle child is kept for the next task (a dev server's edits come one at a time). */
const IDLE_MS = 5_000

const CHILD_SCRIPT = fileURLToPath(new URL('../../child/pixels.mjs', import.meta.url))

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

let child: ChildProcess | undefined
let nextId = 0
const pending = new Map<number, Pending>()
let idleTimer: NodeJS.Timeout | undefined
const limit = pLimit(PIXEL_SLOTS)

/**
 * The child, started on first use. glibc would otherwise keep the high-water mark of every decode
 * (its mmap threshold grows with each big free, so later buffers come from a heap it never
 * trims): a fixed threshold makes big buffers mmap-ed and returned when freed. Set here, for the
 * child only, so it holds whether the engine runs in the CLI, the Vite process or a test.
 */
function start(): ChildProcess {
  if (child) return child
  const started = fork(CHILD_SCRIPT, [], {
    // Not the parent's flags (a test runner's loaders, --inspect): plain node runs the script.
    execArgv: [],
    env: { MALLOC_MMAP_THRESHOLD_: '131072', ...process.env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'json',
  })
  started.on('message', (message: { id: number; ok: boolean; result?: unknown; message?: string }) => {
    const waiting = pending.get(message.id)
    if (!waiting) return
    pending.delete(message.id)
    if (message.ok) waiting.resolve(message.result)
    else waiting.reject(new Error(message.message))
    if (pending.size === 0) idle(started)
  })
  const gone = (reason: string) => {
    if (child === started) child = undefined
    // Whatever it was doing fails (and is retried by its caller's own rules); the next task starts a new child.
    for (const [id, waiting] of pending) {
      pending.delete(id)
      waiting.reject(new Error(`the pixel process ${reason}`))
    }
  }
  started.on('exit', (code, signal) => gone(`exited (${signal ?? code})`))
  started.on('error', (error) => gone(`failed: ${error.message}`))
  child = started
  return started
}

/** No task in flight: the child no longer keeps the engine's process alive, and ends after a while. */
function idle(proc: ChildProcess): void {
  proc.unref()
  proc.channel?.unref()
  clearTimeout(idleTimer)
  idleTimer = setTimeout(() => {
    if (pending.size === 0 && child === proc) {
      child = undefined
      proc.disconnect()
    }
  }, IDLE_MS)
  idleTimer.unref()
}

function send<T>(task: PixelTask): Promise<T> {
  const proc = start()
  clearTimeout(idleTimer)
  proc.ref()
  proc.channel?.ref()
  const id = nextId++
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
    proc.send({ id, task }, (error) => {
      if (!error || !pending.delete(id)) return
      reject(error)
      if (pending.size === 0) idle(proc)
    })
  })
}

/** Runs one pixel task in the child, at most {@link PIXEL_SLOTS} at once across the process. */
export function pixelTask<T>(task: PixelTask): Promise<T> {
  // stats is a question, not work: it does not wait for a slot.
  return task.op === 'stats' ? send<T>(task) : limit(() => send<T>(task))
}
