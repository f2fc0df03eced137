// B11: `images-edit watch --json` on a project of 50 recipes (one small ref each, toapis on the
// fake server). After the initial build, one ref at a time is saved with new pixels; measured is
// the time from the save (just before `writeFile`) to the `job:started` line of that job arriving
// on the watcher's stdout, and, for reference, to the fake server receiving its first request.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startFakeProviderServer } from '@images-edit/fake-provider'
import { benchRuns, cliBin, fakeProviderEnv, scratch, spawnLines, stats } from '../lib.mjs'
import { jobName, refName, smallPng, writeJobsProject } from './fixtures.mjs'

const JOBS = 50

export async function watchLatency(selected, report) {
  if (!selected('B11')) return
  // Cheap trials: at least 10, so the median is not one unlucky save.
  const trials = Math.max(10, benchRuns())
  const { dir, cleanup } = await scratch('b11')
  const server = await startFakeProviderServer({ latencyMs: 50 })
  let watcher
  // Never leave the watcher behind, even when this process is cut short.
  const stopWatcher = () => watcher?.child.kill('SIGKILL')
  process.once('exit', stopWatcher)
  try {
    console.error(`B11: images-edit watch on ${JOBS} recipes; ${trials} saves of one ref each…`)
    await writeJobsProject(dir, { jobs: JOBS, provider: 'toapis', concurrency: 8, providerSettings: { pollIntervalMs: 50 } })
    const waiters = []
    const seen = []
    const waitFor = (match, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const found = seen.find(match)
        if (found) return resolve(found)
        const timer = setTimeout(() => reject(new Error(`B11: timed out waiting for an event; last lines: ${JSON.stringify(seen.slice(-5))}`)), timeoutMs)
        waiters.push({
          match,
          resolve: (event) => {
            clearTimeout(timer)
            resolve(event)
          },
        })
      })
    watcher = spawnLines(process.execPath, [cliBin, 'watch', '--json', '--no-frozen'], {
      cwd: dir,
      env: fakeProviderEnv(server),
      onLine: (line) => {
        if (!line.startsWith('{')) return
        let event
        try {
          event = { ...JSON.parse(line), at: Date.now() }
        } catch {
          return
        }
        seen.push(event)
        for (const waiter of [...waiters]) {
          if (waiter.match(event)) {
            waiters.splice(waiters.indexOf(waiter), 1)
            waiter.resolve(event)
          }
        }
      },
    })
    // The initial build generates every job; watching starts after it.
    await waitFor((event) => event.type === 'build:done', 120_000)
    await waitFor((event) => event.type === 'watching', 30_000)
    await sleep(500)

    const toStart = []
    const toRequest = []
    for (let trial = 0; trial < trials; trial++) {
      const index = (trial * 7) % JOBS
      const bytes = await smallPng(index, trial + 1)
      const mark = seen.length
      const savedAt = Date.now()
      await writeFile(join(dir, refName(index)), bytes)
      const started = await waitFor((event) => seen.indexOf(event) >= mark && event.type === 'job:started' && event.id === jobName(index))
      toStart.push(started.at - savedAt)
      await waitFor((event) => seen.indexOf(event) >= mark && (event.type === 'job:done' || event.type === 'job:failed') && event.id === jobName(index))
      const first = server.requests.find((entry) => entry.startedAt >= savedAt)
      if (first) toRequest.push(first.startedAt - savedAt)
      await sleep(300)
    }
    const measured = stats(toStart)
    const request = toRequest.length ? stats(toRequest) : undefined
    report({
      id: 'B11',
      scenario: `watch: save one ref → its job starts (${JOBS} recipes, default 50 ms debounce)`,
      floor: { label: 'none (target is absolute)', median: 0, min: 0, max: 0, runs: 0 },
      measured,
      ratio: measured.median / 200,
      target: '≤ 200 ms median',
      pass: measured.median <= 200,
      note: `ratio is to the 200 ms target${request ? `; save → first request at the fake server ${request.median.toFixed(0)} ms median (${request.min.toFixed(0)}–${request.max.toFixed(0)})` : ''}`,
    })
  } finally {
    process.off('exit', stopWatcher)
    if (watcher) {
      watcher.child.kill('SIGINT')
      await Promise.race([watcher.exited, sleep(10_000)])
      if (watcher.child.exitCode === null) watcher.child.kill('SIGKILL')
    }
    await server.close()
    await cleanup()
  }
}
