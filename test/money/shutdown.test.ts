/**
 * `watch` and the Vite dev server stop the way `build` does (issue 9, point 2): paid calls already
 * sent are answered and kept, so a later build pays nothing for them.
 */
import { join } from 'node:path'
import { createServer } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'
import { afterEach, describe, expect, it } from 'vitest'
import { imageInfo, runCli, startCli } from '../helpers.js'
import { Resources, requestsOn, serverEnv, until } from '../providers/harness.js'

const resources = new Resources()
afterEach(() => resources.release())
const hero = { hero: { prompt: 'a hero shot', refs: ['refs/a.png'], name: 'hero.png' } }

describe('shutting down with a paid call in flight', () => {
  it('watch: Ctrl-C waits for the aa answer and keeps it; a later build pays nothing', async () => {
    const server = await resources.server({ latencyMs: 1500 })
    const dir = await resources.project({ provider: 'aa', recipes: hero })
    const env = serverEnv(server)
    const cli = startCli(['watch', '--no-frozen'], { cwd: dir, env })
    resources.add(async () => cli.kill('SIGKILL'))
    await until(() => requestsOn(server, 'aa.generate').length === 1, 30_000, 'the aa call')
    cli.kill('SIGINT')
    const exit = await cli.exited
    expect(exit.code, cli.stdout() + cli.stderr()).toBe(130)
    expect(cli.stderr()).toMatch(/paid calls already sent are answered first/)
    const build = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(build.code, build.stderr).toBe(0)
    expect(server.submits()).toBe(1)
    expect(await imageInfo(join(dir, 'out/hero.png'))).toMatchObject({ width: 1024 })
  })

  it('the Vite dev server: closing while a paid call is in flight keeps its result', async () => {
    const server = await resources.server({ latencyMs: 1500 })
    const dir = await resources.project({ provider: 'aa', recipes: hero })
    const env = { ...serverEnv(server), PATH: process.env.PATH ?? '' }
    const vite = await createServer({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [imagesEdit({ env, frozen: false, dts: false })],
      server: { port: 0, host: '127.0.0.1' },
    })
    let closed = false
    resources.add(async () => {
      if (!closed) await vite.close()
    })
    await vite.listen()
    await until(() => requestsOn(server, 'aa.generate').length === 1, 30_000, 'the aa call')
    await vite.close()
    closed = true
    const build = await runCli(['build', '--no-frozen'], { cwd: dir, env })
    expect(build.code, build.stderr).toBe(0)
    expect(server.submits()).toBe(1)
  })
})
