// Functions passed to page.evaluate run in Chromium: they use the DOM types.
/// <reference lib="dom" />
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type FakeProviderServer, startFakeProviderServer } from '@images-edit/fake-provider'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../setup/browser.js'
import { type Fixture, freePort, heroManifest, heroProject, installFixture, node24, runNode, startNode } from './fixtures.js'

/**
 * Real projects on the Vite versions users run, each installed from its own lock: a plain Vite 7 app
 * and a Vite 8 app (Node 20, the machine's), and SvelteKit 3 (Node 22.17+, here Node 24). Each is
 * built frozen and not, and its dev server swaps a generated image in Chromium without a reload.
 */
const APPS = [
  { name: 'vite7', title: 'Vite 7', node: async () => process.execPath, assets: 'dist/assets' },
  { name: 'vite8', title: 'Vite 8', node: async () => process.execPath, assets: 'dist/assets' },
  { name: 'sveltekit', title: 'SvelteKit 3 on Node 24', node: node24, assets: 'build/_app/immutable/assets' },
] as const

/** A line no successful run may print (file names such as `server-errors.js` are fine). */
const PROBLEM_LINE = /\[ERROR\]|error during|error when|\binterrupted\b|failed on/i

let server: FakeProviderServer
let browser: Browser
beforeAll(async () => {
  ;[server, browser] = await Promise.all([startFakeProviderServer({ latencyMs: 20 }), launchChromium()])
})
afterAll(async () => {
  await Promise.all([server?.close(), browser?.close()])
})

describe.each(APPS)('$title', (app) => {
  let fixture: Fixture
  let node: string
  let env: Record<string, string>
  const vite = () => join(fixture.dir, 'node_modules/vite/bin/vite.js')

  beforeAll(async () => {
    const started = performance.now()
    ;[fixture, node] = await Promise.all([installFixture(app.name), app.node()])
    console.log(`${app.name}: npm ci ${Math.round(fixture.installMs)} ms (0 = reused), ready in ${Math.round(performance.now() - started)} ms`)
    env = { IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrls.toapis, TOAPIS_API_KEY: server.apiKey }
  }, 600_000)

  const freshProject = (prompt?: string) => heroProject(fixture.dir, server, prompt)

  it('build: frozen in CI (exit 1, nothing asked of the provider), generates once outside CI, then rebuilds in CI for free', async () => {
    const dir = await freshProject()
    const refused = await runNode(node, [vite(), 'build'], { cwd: dir, env: { ...env, CI: 'true' } })
    expect(refused.code, refused.output).toBe(1)
    expect(refused.output).toContain('frozen mode: 1 job would generate 1 new image, and nothing may be generated')
    expect(server.requests).toEqual([])

    const built = await runNode(node, [vite(), 'build'], { cwd: dir, env })
    console.log(`${app.name}: build generating ${Math.round(built.ms)} ms`)
    expect(built.code, built.output).toBe(0)
    expect(server.submits()).toBe(1)
    expect(built.output).not.toMatch(PROBLEM_LINE)
    expect((await readdir(join(dir, app.assets))).filter((file) => file.endsWith('.png'))).toHaveLength(1)

    const again = await runNode(node, [vite(), 'build'], { cwd: dir, env: { ...env, CI: 'true' } })
    console.log(`${app.name}: CI build from the lock ${Math.round(again.ms)} ms`)
    expect(again.code, again.output).toBe(0)
    expect(server.submits()).toBe(1)
  }, 300_000)

  it('dev: the placeholder is swapped for the image, and a prompt edit swaps in the new one, without a reload', async () => {
    const dir = await freshProject()
    const port = await freePort()
    const started = performance.now()
    const dev = startNode(node, [vite(), 'dev', '--port', String(port), '--strictPort', '--host', '127.0.0.1'], { cwd: dir, env })
    try {
      const panel = await dev.waitFor(/images-edit panel: (http:\/\/\S+)/)
      console.log(`${app.name}: dev ready (panel URL) in ${Math.round(performance.now() - started)} ms`)
      expect(panel[1]).toContain(`:${port}/__images-edit/`)
      const context = await browser.newContext()
      const page = await context.newPage()
      page.setDefaultTimeout(60_000)
      await page.goto(`http://127.0.0.1:${port}/`)
      const realImage = async (previous: string) =>
        (await (
          await page.waitForFunction(
            (before) => {
              const img = document.getElementById('hero') as HTMLImageElement | null
              return img && /\?v=[0-9a-f]{16}$/.test(img.src) && img.src !== before && img.complete && img.naturalWidth > 0 ? img.src : false
            },
            previous,
            { polling: 200 },
          )
        ).jsonValue()) as string
      const first = await realImage('')
      await page.evaluate(() => {
        ;(window as unknown as { kept: string }).kept = 'same page'
      })
      await writeFile(join(dir, 'images.edit.yaml'), heroManifest('the same city at night, neon signs'))
      const second = await realImage(first)
      expect(second).not.toBe(first)
      expect(await page.evaluate(() => (window as unknown as { kept?: string }).kept)).toBe('same page')
      expect(server.submits()).toBe(2)
      await context.close()
    } finally {
      await dev.stop()
    }
    expect(dev.output()).not.toMatch(PROBLEM_LINE)
  }, 300_000)
})
