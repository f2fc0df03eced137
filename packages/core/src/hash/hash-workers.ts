// Hashing big files on worker threads: sha256 runs on whichever thread calls `update`, so on the
// main thread a fresh clone's gigabytes of refs are hashed one core at a time while the YAML, the
// schema and the plan wait. A few workers (one per core, at most four) read and hash files in
// parallel; small files stay on the main thread, where a worker's round trip would cost more.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/** Files at least this big are hashed on a worker; below it, in the caller's thread. */
export const WORKER_HASH_BYTES = 4 << 20

// The worker's code, evaluated as CommonJS: a separate file would not be found beside the bundle.
// It reads into one reused buffer with plain reads (no per-chunk allocation), keeps the first
// 64 KiB (where every image header is) and answers with the hex digest.
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads')
const { openSync, readSync, closeSync } = require('node:fs')
const { createHash } = require('node:crypto')
const buffer = Buffer.allocUnsafe(1 << 20)
parentPort.on('message', ({ id, path }) => {
  let fd
  try {
    fd = openSync(path, 'r')
    const hash = createHash('sha256')
    let head
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null)
      if (read === 0) break
      if (!head) head = Buffer.from(buffer.subarray(0, Math.min(read, 1 << 16)))
      hash.update(buffer.subarray(0, read))
    }
    const bytes = head ?? Buffer.alloc(0)
    parentPort.postMessage({ id, sha256: hash.digest('hex'), head: bytes })
  } catch (error) {
    parentPort.postMessage({ id, error: error.message })
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
})
`

interface Pending {
  resolve: (value: { sha256: string; head: Buffer }) => void
  reject: (error: Error) => void
}

interface Slot {
  worker: Worker
  busy: number
}

let pool: Slot[] | undefined
const pending = new Map<number, Pending>()
let nextId = 0

function slots(): Slot[] {
  if (pool) return pool
  const size = Math.max(1, Math.min(4, availableParallelism()))
  pool = Array.from({ length: size }, () => {
    const slot: Slot = { worker: new Worker(WORKER_CODE, { eval: true }), busy: 0 }
    slot.worker.on('message', (message: { id: number; sha256?: string; head?: Uint8Array; error?: string }) => {
      const task = pending.get(message.id)
      pending.delete(message.id)
      // An idle worker must not keep the process alive; a busy one must (an awaited promise does not).
      if (--slot.busy === 0) slot.worker.unref()
      if (!task) return
      if (message.error !== undefined || !message.sha256) task.reject(new Error(message.error ?? 'hashing failed'))
      else task.resolve({ sha256: message.sha256, head: Buffer.from(message.head ?? new Uint8Array()) })
    })
    slot.worker.on('error', (error) => {
      // A worker that died takes its tasks with it: they fail (the caller reports the file as
      // unreadable, and the next run hashes again), and the pool is made anew on next use.
      for (const [id, task] of pending) {
        pending.delete(id)
        task.reject(error)
      }
      pool = undefined
    })
    slot.worker.unref()
    return slot
  })
  return pool
}

/** sha256 and first 64 KiB of a file, read and hashed on the least busy worker. */
export function hashOnWorker(path: string): Promise<{ sha256: string; head: Buffer }> {
  const slot = slots().reduce((best, candidate) => (candidate.busy < best.busy ? candidate : best))
  const id = nextId++
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject })
    if (slot.busy++ === 0) slot.worker.ref()
    slot.worker.postMessage({ id, path })
  })
}
