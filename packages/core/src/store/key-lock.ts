import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { isProcessAlive } from './process-alive.js'

/**
 * One job key at a time, across processes on one project: the CLI, `watch` and the Vite dev
 * server never submit the same job twice. A lock is a file created with O_EXCL holding the
 * owner's pid and host; a lock whose owner process is gone (kill -9) is taken over at once.
 *
 * Hand-written rather than `proper-lockfile`: that library detects a dead owner only after a
 * staleness timeout (10 s by default), which would stall every rerun after a crash.
 */
export class KeyLocks {
  private readonly local = new Map<string, Promise<void>>()

  constructor(readonly dir: string) {}

  /** Runs `task` holding the lock of `key`; waits (polling) while another process holds it. */
  async with<T>(key: string, signal: AbortSignal, task: () => Promise<T>, onWait?: () => void): Promise<T> {
    // In-process first: jobs of one run that share a key queue here without touching the disk.
    const previous = this.local.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const chained = previous.then(() => mine)
    this.local.set(key, chained)
    await previous
    try {
      const path = join(this.dir, `${key}.lock`)
      await this.acquire(path, signal, onWait)
      try {
        return await task()
      } finally {
        await rm(path, { force: true })
      }
    } finally {
      release()
      if (this.local.get(key) === chained) this.local.delete(key)
    }
  }

  private async acquire(path: string, signal: AbortSignal, onWait?: () => void): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    let told = false
    for (;;) {
      if (signal.aborted) throw signal.reason ?? new Error('aborted')
      try {
        const handle = await open(path, 'wx')
        await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }))
        await handle.close()
        return
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
      if (await this.isStale(path)) {
        await rm(path, { force: true })
        continue
      }
      if (!told) {
        onWait?.()
        told = true
      }
      await sleep(200, undefined, { signal }).catch(() => {})
    }
  }

  private async isStale(path: string): Promise<boolean> {
    let owner: { pid?: number; host?: string }
    try {
      owner = JSON.parse(await readFile(path, 'utf8')) as { pid?: number; host?: string }
    } catch {
      // Being written right now by its owner, or left empty by a crash between create and write.
      await sleep(50)
      try {
        owner = JSON.parse(await readFile(path, 'utf8')) as { pid?: number; host?: string }
      } catch {
        return true
      }
    }
    if (owner.host !== hostname() || typeof owner.pid !== 'number') return false
    return !isProcessAlive(owner.pid)
  }
}
