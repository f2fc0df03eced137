/**
 * The real CLI against the fake server, configured only through the environment, as a user would:
 * `IMAGES_EDIT_TOAPIS_BASE_URL=… TOAPIS_API_KEY=… images-edit build`.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, it } from 'vitest'
import { imageInfo, listFiles, readLockFile, repoRoot, runCli } from '../helpers.js'
import { Resources } from './harness.js'

/** Every provider key variable unset, so nothing leaks in from the test runner's environment. */
const NO_KEYS = { TOAPIS_API_KEY: undefined, AA_API_KEY: undefined, OPENAI_API_KEY: undefined }

async function project(resources: Resources) {
  const server = await resources.server()
  const dir = await resources.project({
    provider: 'toapis',
    recipes: {
      hero: { prompt: 'cli hero', refs: ['refs/a.png', 'refs/b.jpg'], mask: 'masks/m.png', ratio: '16:9', n: 2 },
      card: { prompt: 'cli card', refs: ['refs/b.jpg'], ratio: '3:4', format: 'jpeg' },
    },
  })
  return { server, dir }
}

describe.concurrent('CLI end to end against the fake server', () => {
  it('IMAGES_EDIT_TOAPIS_BASE_URL + TOAPIS_API_KEY: build exits 0 and writes every output; status then says up to date', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir } = await project(resources)
    const env = { ...NO_KEYS, IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrls.toapis, TOAPIS_API_KEY: 'test-key' }
    const result = await runCli(['build'], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/2 generated \(3 new images\)/)
    expect(await listFiles(join(dir, 'out'))).toEqual(['card.jpg', 'hero-1.png', 'hero-2.png'])
    expect(await imageInfo(join(dir, 'out/hero-2.png'))).toEqual({ width: 1536, height: 864, format: 'png' })
    expect(await imageInfo(join(dir, 'out/card.jpg'))).toEqual({ width: 768, height: 1024, format: 'jpeg' })
    expect(server.submits()).toBe(2)
    expect(Object.keys((await readLockFile(dir)).jobs).sort()).toEqual(['card', 'hero'])

    const status = await runCli(['status'], { cwd: dir, env: NO_KEYS })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^2\/2 up to date$/m)
  })

  it('a host that used fetch first (Astro does) cannot break uploads: multipart calls never go through the global dispatcher', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir } = await project(resources)
    const preload = pathToFileURL(join(repoRoot, 'test/providers/host-fetch.mjs')).href
    const env = {
      ...NO_KEYS,
      IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrls.toapis,
      TOAPIS_API_KEY: 'test-key',
      HOST_FETCH_URL: `${server.baseUrls.toapis}/models`,
      NODE_OPTIONS: `--import ${preload}`,
    }
    const result = await runCli(['build'], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    expect(server.submits()).toBe(2)
    expect(server.requestCount('toapis.upload')).toBeGreaterThan(0)
  })

  it('no key: build exits 1 naming TOAPIS_API_KEY and suggesting --provider local, before any request; plan, status and validate need no key', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const { server, dir } = await project(resources)
    const env = { ...NO_KEYS, IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrls.toapis }

    const build = await runCli(['build'], { cwd: dir, env })
    expect(build.code).toBe(1)
    expect(build.stderr).toMatch(/TOAPIS_API_KEY/)
    expect(build.stderr).toMatch(/--provider local/)
    expect(build.stderr).not.toMatch(/^\s+at\s/m)
    expect(server.requests).toEqual([])
    expect(await listFiles(join(dir, 'out'))).toEqual([])

    const json = await runCli(['build', '--json'], { cwd: dir, env })
    expect(json.code).toBe(1)
    expect(json.stdout).toMatch(/"type":"error"/)
    expect(json.stdout).toMatch(/TOAPIS_API_KEY/)

    const plan = await runCli(['plan'], { cwd: dir, env })
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/3 new images/)
    const status = await runCli(['status'], { cwd: dir, env })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^0\/2 up to date$/m)
    const validate = await runCli(['validate'], { cwd: dir, env })
    expect(validate.code, validate.stderr).toBe(0)
    expect(validate.stdout).toMatch(/is valid/)
    expect(server.requests).toEqual([])

    // The offline way out works as suggested.
    const local = await runCli(['build', '--provider', 'local'], { cwd: dir, env })
    expect(local.code, local.stderr).toBe(0)
    expect(server.requests).toEqual([])
  })
})
