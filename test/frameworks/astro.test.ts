// Functions passed to page.evaluate run in Chromium: they use the DOM types.
/// <reference lib="dom" />
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type FakeProviderServer, startFakeProviderServer } from '@images-edit/fake-provider'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../setup/browser.js'
import { type Fixture, freePort, heroManifest, heroProject, installFixture, node24, runNode, startNode } from './fixtures.js'

/**
 * Astro 7 (Node 22+, here Node 24 from the registry) with the plugin under `vite.plugins`. Astro's
 * build starts a Vite server of its own before the real build: a CI build must still pay nothing.
 */

describe('Astro 7 on Node 24', () => {
  let fixture: Fixture
  let node: string
  let server: FakeProviderServer
  let env: Record<string, string>
  const astro = (dir: string) => join(dir, 'node_modules/astro/bin/astro.mjs')

  beforeAll(async () => {
    const started = performance.now()
    ;[fixture, node] = await Promise.all([installFixture('astro'), node24()])
    console.log(`astro fixture: npm ci ${Math.round(fixture.installMs)} ms (0 = reused), ready in ${Math.round(performance.now() - started)} ms`)
    server = await startFakeProviderServer({ latencyMs: 20 })
    env = { IMAGES_EDIT_TOAPIS_BASE_URL: server.baseUrls.toapis, TOAPIS_API_KEY: server.apiKey }
  }, 600_000)
  afterAll(async () => {
    await server?.close()
  })

  const freshProject = (prompt?: string) => heroProject(fixture.dir, server, prompt)

  it('CI=true astro build pays nothing: it fails as vite build does (exit 1, the frozen message), with no request to the provider', async () => {
    const dir = await freshProject()
    const built = await runNode(node, [astro(dir), 'build'], { cwd: dir, env: { ...env, CI: 'true' } })
    console.log(`astro build (CI, refused): ${Math.round(built.ms)} ms`)
    expect(built.code, built.output).toBe(1)
    expect(built.output).toContain('frozen mode: 1 job would generate 1 new image, and nothing may be generated')
    expect(built.output).toContain('- hero: new recipe (not in the lock) (1 new image)')
    expect(server.submits()).toBe(0)
    expect(server.requests).toEqual([])
    // No dev session ran inside the build: nothing was generating, nothing interrupted.
    expect(built.output).not.toMatch(/generating on|interrupted|being made/)
  }, 180_000)

  it('astro build generates once and emits the image; a CI build of the committed result is free; no racy error lines', async () => {
    const dir = await freshProject()
    const first = await runNode(node, [astro(dir), 'build'], { cwd: dir, env })
    console.log(`astro build (generating): ${Math.round(first.ms)} ms`)
    expect(first.code, first.output).toBe(0)
    expect(server.submits()).toBe(1)
    expect(first.output).not.toMatch(/\[ERROR\]|interrupted/)
    const html = await readFile(join(dir, 'dist/index.html'), 'utf8')
    const src = html.match(/<img[^>]*id="hero"[^>]*src="([^"]+)"/)?.[1] ?? html.match(/src="([^"]+\.png)"/)?.[1]
    expect(src, html).toMatch(/^\/_astro\/.+\.png$/)
    const emitted = await readFile(join(dir, 'dist', src as string))
    expect(emitted.subarray(1, 4).toString()).toBe('PNG')

    const again = await runNode(node, [astro(dir), 'build'], { cwd: dir, env: { ...env, CI: 'true' } })
    console.log(`astro build (CI, from the lock): ${Math.round(again.ms)} ms`)
    expect(again.code, again.output).toBe(0)
    expect(server.submits()).toBe(1)
    expect(again.output).not.toMatch(/\[ERROR\]|interrupted/)
  }, 240_000)

  describe('astro dev', () => {
    let browser: Browser
    beforeAll(async () => {
      browser = await launchChromium()
    })
    afterAll(async () => {
      await browser?.close()
    })

    it('prints the panel URL, shows the image, and shows the new one after a prompt edit without a manual reload', async () => {
      const dir = await freshProject()
      const port = await freePort()
      const started = performance.now()
      const dev = startNode(node, [astro(dir), 'dev', '--port', String(port), '--host', '127.0.0.1'], { cwd: dir, env })
      try {
        const panel = await dev.waitFor(/images-edit panel: (http:\/\/\S+)/)
        console.log(`astro dev: panel URL after ${Math.round(performance.now() - started)} ms`)
        expect(panel[1]).toContain(`:${port}/__images-edit/`)
        const page = await (await browser.newContext()).newPage()
        page.setDefaultTimeout(60_000)
        await page.goto(`http://127.0.0.1:${port}/`)
        const real = () =>
          page.waitForFunction(
            (previous) => {
              const img = document.getElementById('hero') as HTMLImageElement | null
              return img && /\?v=[0-9a-f]{16}$/.test(img.src) && img.src !== previous && img.complete && img.naturalWidth > 0 ? img.src : false
            },
            before,
            { polling: 200 },
          )
        let before = ''
        before = (await (await real()).jsonValue()) as string
        expect(server.submits()).toBe(1)
        await writeFile(join(dir, 'images.edit.yaml'), heroManifest('the same city at night, neon signs'))
        const after = (await (await real()).jsonValue()) as string
        expect(after).not.toBe(before)
        expect(server.submits()).toBe(2)
      } finally {
        await dev.stop()
      }
      expect(dev.output()).not.toMatch(/\[ERROR\]/)
    }, 240_000)
  })
})
