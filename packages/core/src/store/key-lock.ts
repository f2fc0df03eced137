import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { isProcessAlive } from './process-alive.js'

/** Our files beside the locks (an owner being linked in, a stale lock moved aside) end so; never a lock's name. */
const TEMP_MARKER_SUFFIX = '.tmp'

/**
 * One job key at a time, across processes on one project: the CLI, `watch` and the Vite dev
 * server never submit the same job twice. A lock is a file holding the owner's pid and host,
 * linked into place whole (the link fails if the lock exists); a lock whose owner process is gone (kill -9) is
 * taken over at once, by moving it aside, so that two waiters taking it over never remove each
 * other's new lock.
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
      if (await this.create(path)) return
      const seen = await this.read(path)
      if (seen !== undefined && this.isStale(seen)) {
        await this.takeOver(path, seen)
        continue
      }
      if (!told) {
        onWait?.()
        told = true
      }
      await sleep(200, undefined, { signal }).catch(() => {})
    }
  }

  /** The lock's content; one that does not parse is read again a moment later (an older images-edit writes its lock after creating it). */
  private async read(path: string): Promise<string | undefined> {
    const first = await readFile(path, 'utf8').catch(() => undefined)
    if (first === undefined || parses(first)) return first
    await sleep(50)
    return readFile(path, 'utf8').catch(() => undefined)
  }

  /**
   * Creates the lock with its owner already in it: written to a file of our own, then linked to the
   * lock's name, which fails if the lock exists. A lock is therefore never seen empty, so a slow
   * owner (a loaded machine) is never taken for a dead one.
   */
  private async create(path: string): Promise<boolean> {
    const owner = JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString(), id: randomBytes(8).toString('hex') })
    const mine = `${path}.${process.pid}-${randomBytes(4).toString('hex')}${TEMP_MARKER_SUFFIX}`
    await writeFile(mine, owner)
    try {
      await link(mine, path)
      return true
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      // A file system without hard links (FAT, some network shares): create, then write, as before.
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') return this.createInPlace(path, owner)
      throw error
    } finally {
      await rm(mine, { force: true })
    }
  }

  private async createInPlace(path: string, owner: string): Promise<boolean> {
    try {
      await writeFile(path, owner, { flag: 'wx' })
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    }
  }

  /**
   * Removes a lock whose owner is dead, and only that one: it is moved aside first, and if what was
   * moved is not the lock judged stale (another waiter took over meanwhile and made its own), that
   * live lock is put back.
   */
  private async takeOver(path: string, stale: string): Promise<void> {
    const aside = `${path}.${process.pid}-${randomBytes(4).toString('hex')}${TEMP_MARKER_SUFFIX}`
    try {
      await rename(path, aside)
    } catch {
      return // gone already: someone else took it over
    }
    const moved = await readFile(aside, 'utf8').catch(() => undefined)
    // (Should a third process have created a lock in the instant between, the put-back fails and
    // that one holds the key; the window is a rename and a read wide, not a sleep.)
    if (moved !== stale) await link(aside, path).catch(() => {})
    await rm(aside, { force: true })
  }

  /** Whether a lock's owner is gone: a process of this host that no longer runs, or content no live owner writes. */
  private isStale(content: string): boolean {
    let owner: { pid?: unknown; host?: unknown }
    try {
      owner = JSON.parse(content) as { pid?: unknown; host?: unknown }
    } catch {
      // Locks are linked into place whole, so this is a crash's leftover or damage, not a writer at work.
      return true
    }
    if (owner.host !== hostname() || typeof owner.pid !== 'number') return false
    return !isProcessAlive(owner.pid)
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
