import { spawnSync } from 'node:child_process'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers.js'
import { KeyLocks } from './key-lock.js'

/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid as number

describe('KeyLocks', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('two processes taking over the same dead owner’s lock never both hold it', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    // Two instances stand for two processes (each has its own in-process queue).
    const [a, b] = [new KeyLocks(dir), new KeyLocks(dir)]
    const signal = new AbortController().signal
    await mkdir(dir, { recursive: true })
    for (let round = 0; round < 10; round++) {
      const key = `key-${round}`
      await writeFile(join(dir, `${key}.lock`), JSON.stringify({ pid: deadPid(), host: hostname() }))
      let inside = 0
      let most = 0
      const task = async () => {
        most = Math.max(most, ++inside)
        await sleep(5)
        inside--
      }
      await Promise.all([a.with(key, signal, task), b.with(key, signal, task)])
      expect(most, `round ${round}`).toBe(1)
    }
    expect(await readdir(dir)).toEqual([])
  })

  it("waits for a live owner's lock and gets it once released", async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const locks = new KeyLocks(dir)
    await mkdir(dir, { recursive: true })
    const path = join(dir, 'k.lock')
    await writeFile(path, JSON.stringify({ pid: process.pid, host: hostname() }))
    let ran = false
    let waited = false
    const done = locks.with(
      'k',
      new AbortController().signal,
      async () => {
        ran = true
      },
      () => {
        waited = true
      },
    )
    await sleep(600)
    expect([ran, waited]).toEqual([false, true])
    await rm(path)
    await done
    expect(ran).toBe(true)
  })
})
