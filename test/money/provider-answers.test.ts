/**
 * Issue 9, what each service's answers MEAN (the provider side):
 * - point 7: aa answering early (`code: 0`/`"0"`, no `urls`, a task id and a non-final status) is
 *   billed and not collected, never "aa answered code 0: success"; `code: "0"` with urls succeeds.
 * - point 8: toapis statuses come from one table (`succeeded` completes, `cancelled` fails at once),
 *   an unknown one is reported as running with `unknownStatus`.
 * - point 9: toapis result URLs are collected from every documented place, without duplicates.
 * - point 22: a WebP reference is re-encoded before the toapis upload (which refuses WebP).
 * Through the real CLI against the fake provider, counting paid requests at the server, plus unit
 * tables of the mapping functions.
 */
import { join } from 'node:path'
import { normalizeTask, resultUrls } from '@images-edit/core/internal'
import { describe, expect, it } from 'vitest'
import { exists, makeImage, runCli, writeFiles } from '../helpers.js'
import { journalFiles, Resources, requestsOn, serverEnv } from '../providers/harness.js'

const BILLED = /billed/i

async function setup(
  onTestFinished: (fn: () => Promise<void>) => void,
  provider: 'toapis' | 'aa',
  recipes: Record<string, Record<string, unknown>>,
  settings?: Record<string, unknown>,
) {
  const resources = new Resources()
  onTestFinished(() => resources.release())
  const server = await resources.server({ latencyMs: 20 })
  const dir = await resources.project({ provider, recipes, ...(settings ? { settings } : {}) })
  return { server, dir, env: serverEnv(server) }
}

describe('aa answering before its task has images (point 7)', () => {
  for (const variant of [
    { title: 'code 0, status processing', fault: { kind: 'aa-early' as const } },
    { title: 'code "0", status queued', fault: { kind: 'aa-early' as const, status: 'queued', codeAsString: true } },
  ]) {
    it(`${variant.title}: one generate request, exit 1, the output names the task id as billed`, { timeout: 120_000 }, async ({ onTestFinished }) => {
      const { server, dir, env } = await setup(onTestFinished, 'aa', { hero: { prompt: 'aa early hero', refs: ['refs/a.png'] } })
      server.fault('aa.generate', variant.fault)
      const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
      const output = `${run.stdout}\n${run.stderr}`
      const taskId = server.submissions[0]?.taskId ?? '?'
      expect(taskId).toMatch(/^task_/)
      expect(run.code, output).toBe(1)
      expect(requestsOn(server, 'aa.generate'), 'never sent again').toHaveLength(1)
      expect(output).toContain(taskId)
      expect(output).toMatch(BILLED)
      expect(output).toContain(variant.fault.status ?? 'processing')
      expect(output).not.toMatch(/code 0: success/)
    })
  }

  it('no task id at all: still says it may have been billed', { timeout: 120_000 }, async ({ onTestFinished }) => {
    const { server, dir, env } = await setup(onTestFinished, 'aa', { hero: { prompt: 'aa early hero', refs: ['refs/a.png'] } })
    server.fault('aa.generate', { kind: 'aa-early', noTaskId: true })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    const output = `${run.stdout}\n${run.stderr}`
    expect(run.code, output).toBe(1)
    expect(requestsOn(server, 'aa.generate')).toHaveLength(1)
    expect(output).toMatch(/may have been billed/)
  })

  // Needs the runner part (journaling `billedTaskId`): the rerun must not pay again.
  it('[runner] the early task is journaled, and a rerun names it again without a new generate request', { timeout: 180_000 }, async ({ onTestFinished }) => {
    const { server, dir, env } = await setup(onTestFinished, 'aa', { hero: { prompt: 'aa early hero', refs: ['refs/a.png'] } })
    server.fault('aa.generate', { kind: 'aa-early' })
    const first = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    expect(first.code).toBe(1)
    const taskId = server.submissions[0]?.taskId ?? '?'
    expect(await journalFiles(dir), 'the billed task is journaled').toHaveLength(1)
    const second = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    expect(requestsOn(server, 'aa.generate'), 'the rerun does not pay again').toHaveLength(1)
    expect(`${second.stdout}\n${second.stderr}`).toContain(taskId)
  })

  it('code "0" with urls is a success', { timeout: 120_000 }, async ({ onTestFinished }) => {
    const { server, dir, env } = await setup(onTestFinished, 'aa', { hero: { prompt: 'aa string code', refs: ['refs/a.png'] } })
    server.fault('aa.generate', { kind: 'code-as-string' })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0)
    expect(requestsOn(server, 'aa.generate')).toHaveLength(1)
    expect(await exists(join(dir, 'out/hero.png'))).toBe(true)
  })
})

describe('toapis statuses from one table (point 8)', () => {
  it.each([
    ['queued', 'queued'],
    ['pending', 'queued'],
    ['submitted', 'queued'],
    ['in_progress', 'running'],
    ['processing', 'running'],
    ['RUNNING', 'running'],
  ])('%s → %s', (status, state) => {
    expect(normalizeTask({ status, progress: 30 })).toEqual({ state, percent: 30 })
  })

  it.each(['completed', 'succeeded', 'success', 'Succeeded'])('%s with a result → completed', (status) => {
    expect(normalizeTask({ status, result: { data: [{ url: 'https://files.example/a.png' }] } })).toEqual({
      state: 'completed',
      urls: ['https://files.example/a.png'],
    })
  })

  it.each(['failed', 'failure', 'error', 'cancelled', 'canceled', 'expired', 'timeout'])('%s → failed, final, the status as code', (status) => {
    expect(normalizeTask({ status })).toMatchObject({ state: 'failed', code: status, final: true })
  })

  it('a failed task keeps its own error code and message, or fail_reason', () => {
    expect(normalizeTask({ status: 'failed', error: { code: 404, message: 'gone' } })).toEqual({ state: 'failed', code: '404', message: 'gone', final: true })
    expect(normalizeTask({ status: 'error', fail_reason: 'upstream' })).toEqual({ state: 'failed', code: 'error', message: 'upstream', final: true })
  })

  it('an unknown status is running with unknownStatus (the raw value)', () => {
    expect(normalizeTask({ status: 'Weird_State', progress: 10 })).toEqual({ state: 'running', percent: 10, unknownStatus: 'Weird_State' })
    expect(normalizeTask({})).toMatchObject({ state: 'running', unknownStatus: '(no status)' })
    // Not fooled by inherited names.
    expect(normalizeTask({ status: 'constructor' })).toMatchObject({ state: 'running', unknownStatus: 'constructor' })
  })

  it('succeeded / processing / submitted: the task completes (real CLI; the task would otherwise poll until taskTimeoutMs)', { timeout: 120_000 }, async ({
    onTestFinished,
  }) => {
    const { server, dir, env } = await setup(
      onTestFinished,
      'toapis',
      { hero: { prompt: 'toapis succeeded', refs: ['refs/a.png'] } },
      { taskTimeoutMs: 600_000 },
    )
    server.fault('toapis.submit', { kind: 'task-shape', statuses: { queued: 'submitted', running: 'processing', completed: 'succeeded' } })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0)
    expect(server.submits()).toBe(1)
    expect(await exists(join(dir, 'out/hero.png'))).toBe(true)
    expect(await journalFiles(dir)).toEqual([])
  })

  it('cancelled: the job fails at once with the status, no resubmit (real CLI)', { timeout: 120_000 }, async ({ onTestFinished }) => {
    const { server, dir, env } = await setup(
      onTestFinished,
      'toapis',
      { hero: { prompt: 'toapis cancelled', refs: ['refs/a.png'] } },
      { taskTimeoutMs: 600_000 },
    )
    server.fault('toapis.submit', { kind: 'task-shape', statuses: { failed: 'cancelled' }, fails: true })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    const output = `${run.stdout}\n${run.stderr}`
    expect(run.code, output).toBe(1)
    expect(output).toMatch(/cancelled/)
    expect(requestsOn(server, 'toapis.submit')).toHaveLength(1)
  })

  // Needs the runner part (ending a task with an unknown status after a bounded time, keeping its id).
  it('[runner] an unknown status ends the task with a message naming it and the task id, still journaled', { timeout: 180_000 }, async ({ onTestFinished }) => {
    const { server, dir, env } = await setup(onTestFinished, 'toapis', { hero: { prompt: 'toapis weird', refs: ['refs/a.png'] } }, { taskTimeoutMs: 1000 })
    server.fault('toapis.submit', { kind: 'task-shape', statuses: { running: 'weird_state', completed: 'weird_state' } })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 150_000 })
    const output = `${run.stdout}\n${run.stderr}`
    const taskId = server.submissions[0]?.taskId ?? '?'
    expect(run.code, output).toBe(1)
    expect(output).toContain(taskId)
    expect(output).toContain('weird_state')
    expect(requestsOn(server, 'toapis.submit')).toHaveLength(1)
    expect(await journalFiles(dir)).toHaveLength(1)
  })
})

describe('toapis result URLs from every documented place (point 9, provider side)', () => {
  it('collects result.data, the top-level url, data, output and images in that order, without duplicates', () => {
    const a = 'https://files.example/a.png'
    const b = 'https://files.example/b.png'
    const c = 'https://files.example/c.png'
    expect(resultUrls({ url: a, result: { data: [{ url: a }, { url: b }] } })).toEqual([a, b])
    expect(resultUrls({ url: a })).toEqual([a])
    expect(resultUrls({ result: { data: [{ url: b }] }, url: a, data: [{ url: c }], output: [a], images: [b, c] })).toEqual([b, a, c])
    expect(resultUrls({ result: { data: [{ nope: 1 }, 7] }, output: ['', ' '] })).toEqual([])
  })

  // Needs the runner part (taking what arrived and saying what was odd) for the exit code.
  it('[runner] n = 2 with only a top-level url: one submit, at most 2 downloads, the shortfall is reported', { timeout: 120_000 }, async ({
    onTestFinished,
  }) => {
    const { server, dir, env } = await setup(onTestFinished, 'toapis', { hero: { prompt: 'toapis top url', refs: ['refs/a.png'], n: 2 } })
    server.fault('toapis.submit', { kind: 'task-shape', urls: 'top-level' })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    expect(requestsOn(server, 'toapis.submit')).toHaveLength(1)
    expect(requestsOn(server, 'files.download').length).toBeLessThanOrEqual(2)
    // What was odd is said: one image came for a request of two.
    expect(`${run.stdout}\n${run.stderr}`).toMatch(/1 image for a request of 2|1 of 2|only 1/i)
  })
})

describe('a WebP reference on toapis is re-encoded before upload (point 22)', () => {
  it('uploads PNG (the fake refuses WebP, as toapis does), submits once, builds', { timeout: 120_000 }, async ({ onTestFinished }) => {
    const { server, dir, env } = await setup(onTestFinished, 'toapis', { hero: { prompt: 'toapis webp ref', refs: ['refs/w.webp', 'refs/t.webp'] } })
    await writeFiles(dir, {
      'refs/w.webp': await makeImage({ width: 64, height: 48, format: 'webp', color: { r: 10, g: 200, b: 90 } }),
      'refs/t.webp': await makeImage({ width: 64, height: 48, format: 'webp', alpha: true, color: { r: 10, g: 20, b: 200, alpha: 0.5 } }),
    })
    const run = await runCli(['build'], { cwd: dir, env, timeoutMs: 100_000 })
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0)
    const uploads = server.rawBodies.filter((entry) => entry.route === 'toapis.upload')
    expect(uploads).toHaveLength(2)
    for (const entry of uploads) {
      const file = (entry.body as { parts: { name: string; filename?: string; contentType?: string }[] }).parts.find((part) => part.name === 'file')
      expect(file?.contentType).toBe('image/png')
      expect(file?.filename).toBe('ref.png')
    }
    expect(requestsOn(server, 'toapis.upload').every((request) => request.status === 200)).toBe(true)
    expect(server.submits()).toBe(1)
    expect(await exists(join(dir, 'out/hero.png'))).toBe(true)
  })
})
