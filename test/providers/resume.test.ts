/**
 * A build killed after its submit (kill -9) or interrupted (Ctrl-C) must not pay again: the task
 * id is journaled the moment it exists and the next run resumes polling it.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'vitest'
import { exists, imageInfo, parseJsonLines, readLockFile, runCli, sha256File, startCli } from '../helpers.js'
import { journalFiles, Resources, serverEnv, until } from './harness.js'

/** A toapis project whose single task takes ~3 s: long enough to kill the CLI while it polls. */
async function slowProject(resources: Resources) {
  const server = await resources.server({ latencyMs: 3000 })
  const dir = await resources.project({
    provider: 'toapis',
    recipes: { hero: { prompt: 'resume hero poster', refs: ['refs/a.png', 'refs/b.jpg'], mask: 'masks/m.png', ratio: '4:3', n: 2 } },
  })
  return { server, dir, env: serverEnv(server) }
}

async function journalEntries(dir: string): Promise<{ taskId: string; provider: string; count: number }[]> {
  const names = await journalFiles(dir)
  return Promise.all(
    names.map(
      async (name) => JSON.parse(await readFile(join(dir, '.images-edit/journal', name), 'utf8')) as { taskId: string; provider: string; count: number },
    ),
  )
}

async function expectCollected(expect: import('vitest').ExpectStatic, dir: string): Promise<void> {
  for (const name of ['out/hero-1.png', 'out/hero-2.png']) expect(await imageInfo(join(dir, name))).toEqual({ width: 1024, height: 768, format: 'png' })
  expect(await journalFiles(dir)).toEqual([])
  const lock = await readLockFile(dir)
  const outputs = lock.jobs.hero?.outputs ?? []
  expect(outputs.map((output) => output.path)).toEqual(['out/hero-1.png', 'out/hero-2.png'])
  for (const output of outputs) expect(await sha256File(join(dir, output.path))).toBe(output.sha256)
}

describe.concurrent('resume after the CLI dies', () => {
  it('kill -9 after the submit: the rerun collects the same task with no new submit; the journal ends empty', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir, env } = await slowProject(resources)

    const killed = startCli(['build', '--json'], { cwd: dir, env })
    onTestFinished(() => killed.kill('SIGKILL'))
    await killed.waitForStdout(/"stage":"submitted"/)
    killed.kill('SIGKILL')
    const exit = await killed.exited
    expect(exit.signal).toBe('SIGKILL')
    expect(server.submits()).toBe(1)
    const taskId = server.submissions[0]?.taskId
    expect(taskId).toMatch(/^tsk_img_/)
    // Journaled before the event that reported it.
    expect(await journalEntries(dir)).toEqual([expect.objectContaining({ taskId, provider: 'toapis', count: 2 })])
    expect(await exists(join(dir, 'out/hero-1.png'))).toBe(false)

    const rerun = await runCli(['build', '--json'], { cwd: dir, env })
    expect(rerun.code, rerun.stderr).toBe(0)
    const events = parseJsonLines(rerun.stdout)
    expect(events).toContainEqual(expect.objectContaining({ type: 'job:progress', id: 'hero', stage: 'resumed', taskId }))
    expect(events).not.toContainEqual(expect.objectContaining({ type: 'job:progress', stage: 'submitting' }))
    expect(events.at(-1)).toMatchObject({ type: 'run:done', done: 1, failed: 0, interrupted: false })
    // Exactly one paid submit in all, and the rerun polled that task.
    expect(server.submits('resume hero poster')).toBe(1)
    expect(server.requests.filter((request) => request.route === 'toapis.poll').at(-1)?.path).toBe(`/toapis/v1/images/generations/${taskId}`)
    await expectCollected(expect, dir)
    const record = (await readFile(join(dir, '.images-edit/records', `${(await readLockFile(dir)).jobs.hero?.key}.json`), 'utf8')).toString()
    expect(record).toContain(String(taskId))
  })

  it('Ctrl-C after the submit: exit 130, stderr lists the journaled task id; the rerun collects it with no new submit', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir, env } = await slowProject(resources)

    const interrupted = startCli(['build'], { cwd: dir, env })
    onTestFinished(() => interrupted.kill('SIGKILL'))
    await until(async () => (await journalFiles(dir)).length > 0, 20_000, 'the journal entry of the submitted task')
    interrupted.kill('SIGINT')
    const exit = await interrupted.exited
    expect(exit.code, interrupted.stdout() + interrupted.stderr()).toBe(130)
    expect(server.submits()).toBe(1)
    const taskId = String(server.submissions[0]?.taskId)
    const stderr = interrupted.stderr()
    expect(stderr).toMatch(/journaled/)
    expect(stderr).toContain(`toapis task ${taskId}`)
    expect(stderr).toMatch(/Rerun `images-edit build`/)
    expect(await journalEntries(dir)).toEqual([expect.objectContaining({ taskId })])

    const rerun = await runCli(['build'], { cwd: dir, env })
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(server.submits()).toBe(1)
    await expectCollected(expect, dir)
  })
})
