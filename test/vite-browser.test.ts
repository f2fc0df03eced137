// Functions passed to page.evaluate run in Chromium: they use the DOM types.
/// <reference lib="dom" />
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLocalProvider, createProviderRegistry, type ImageEditProvider } from '@images-edit/core'
import { build, createServer, type PreviewServer, preview, type ViteDevServer } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'
import { describe, expect, it } from 'vitest'
import { makeImage, makeMask, repoRoot, tempDir, writeFiles } from './helpers.js'
import { useChromium } from './setup/browser.js'

const exampleRoot = join(repoRoot, 'examples/vite-app')

/** The local provider, held at a gate for prompts containing `hold` until the test releases it. */
function gatedLocal() {
  const local = createLocalProvider()
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const provider: ImageEditProvider = {
    ...local,
    generate: async (request, prepared, context) => {
      if (request.prompt.includes('hold')) await gate
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return { providers: createProviderRegistry({ overrides: { local: provider } }), release: () => open() }
}

const manifest = `version: 1
out: src/generated
defaults: { provider: local, format: png }
recipes:
  hero:
    prompt: hold this poster until the test says so
    refs: [refs/city.png]
    ratio: "3:2"
  sky:
    prompt: a starry sky behind the subject
    refs: [refs/portrait.png]
    mask: masks/portrait.png
    ratio: "4:5"
    resolution: 1k
  avatar:
    prompt: three flat avatars
    refs: [refs/portrait.png]
    n: 3
`

const page = `<!doctype html>
<html><body>
<img id="hero" alt="hero">
<script type="module">
import hero from 'images-edit:hero'
const img = document.getElementById('hero')
img.src = hero.src
img.dataset.placeholder = String(hero.placeholder)
window.updates = []
window.addEventListener('images-edit:update', (event) => window.updates.push(event.detail.image.src))
</script>
</body></html>
`

describe('browser: the Vite plugin in Chromium', () => {
  const { cleanups, newPage } = useChromium({ width: 1200, height: 900 })

  it('dev: the placeholder shows first, then the real image replaces it without a reload, and the panel follows live', async () => {
    const { dir, cleanup } = await tempDir('images-edit-browser-')
    cleanups.push(cleanup)
    await writeFiles(dir, {
      'images.edit.yaml': manifest,
      'index.html': page,
      'refs/city.png': await makeImage({ width: 90, height: 60, color: { r: 30, g: 110, b: 210 } }),
      'refs/portrait.png': await makeImage({ width: 40, height: 50, color: { r: 210, g: 160, b: 120 } }),
      'masks/portrait.png': await makeMask(40, 50),
    })
    const gated = gatedLocal()
    const server: ViteDevServer = await createServer({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [imagesEdit({ providers: gated.providers, frozen: false })],
      server: { port: 0, host: '127.0.0.1' },
    })
    cleanups.push(() => server.close())
    await server.listen()
    const base = server.resolvedUrls?.local[0] as string

    const app = await newPage()
    await app.goto(base)
    const hero = app.locator('#hero')
    await app.waitForFunction(() => {
      const img = document.getElementById('hero') as HTMLImageElement | null
      return img?.complete === true && img.naturalWidth > 0
    })
    const placeholder = await hero.evaluate((img: HTMLImageElement) => ({ src: img.src, width: img.naturalWidth, height: img.naturalHeight }))
    expect(placeholder.src).toContain('?v=placeholder-')
    expect([placeholder.width, placeholder.height]).toEqual([1536, 1024])
    expect(await hero.getAttribute('data-placeholder')).toBe('true')
    // Anything a reload would wipe: a global and the element itself.
    await app.evaluate(() => {
      ;(window as unknown as { marker: string }).marker = 'same page'
      ;(document.getElementById('hero') as HTMLElement & { marker?: string }).marker = 'same element'
    })

    const panel = await newPage()
    await panel.goto(new URL('/__images-edit/', base).href)
    await panel.waitForFunction(() => document.querySelectorAll('[data-recipe]').length === 3)
    expect(await panel.locator('[data-recipe]').evaluateAll((cards) => cards.map((card) => (card as HTMLElement).dataset.recipe))).toEqual([
      'hero',
      'sky',
      'avatar',
    ])
    expect(['queued', 'running']).toContain(await panel.locator('[data-recipe="hero"]').getAttribute('data-state'))
    await panel.waitForFunction(() => document.querySelector('[data-recipe="avatar"]')?.getAttribute('data-state') === 'ready')

    gated.release()
    await app.waitForFunction(() => {
      const img = document.getElementById('hero') as HTMLImageElement
      return !img.src.includes('placeholder') && img.complete && img.naturalWidth > 0
    })
    const swapped = await app.evaluate(() => {
      const img = document.getElementById('hero') as HTMLImageElement & { marker?: string }
      return {
        src: img.src,
        width: img.naturalWidth,
        height: img.naturalHeight,
        page: (window as unknown as { marker?: string }).marker,
        element: img.marker,
        updates: (window as unknown as { updates: string[] }).updates,
      }
    })
    expect(swapped.src).not.toBe(placeholder.src)
    expect(swapped.src).toMatch(/\/@images-edit\/hero\/0\.png\?v=[0-9a-f]{16}$/)
    expect([swapped.width, swapped.height]).toEqual([1536, 1024])
    expect(swapped.page).toBe('same page')
    expect(swapped.element).toBe('same element')
    expect(swapped.updates.at(-1)).toBe(new URL(swapped.src).pathname + new URL(swapped.src).search)

    // The panel, never reloaded, shows every recipe ready.
    await panel.waitForFunction(() => Array.from(document.querySelectorAll('[data-recipe]')).every((card) => card.getAttribute('data-state') === 'ready'))
    expect(await panel.locator('[data-recipe="sky"] .label').allTextContents()).toEqual(['Refs', 'Mask', 'Outputs', 'Takes'])

    // A broken manifest edit shows in Vite's overlay with its location; fixing it clears the overlay, still without a reload.
    await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('ratio: "4:5"', 'ratio: "7:5"'))
    const overlay = app.locator('vite-error-overlay .message-body')
    await overlay.waitFor()
    expect(await overlay.textContent()).toContain('images.edit.yaml:13:12: error:')
    await expect.poll(() => panel.locator('#manifest-errors').count()).toBe(1)
    await writeFile(join(dir, 'images.edit.yaml'), manifest)
    await app.locator('vite-error-overlay').waitFor({ state: 'detached' })
    expect(await app.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('same page')
  })

  it('build: the example app, built frozen from its committed lock, loads every image', async () => {
    const { dir: outDir, cleanup } = await tempDir('images-edit-dist-')
    cleanups.push(cleanup)
    // Frozen: a single image that is not committed fails this build instead of being generated.
    await build({
      root: exampleRoot,
      configFile: false,
      logLevel: 'silent',
      plugins: [imagesEdit({ frozen: true })],
      build: { outDir, emptyOutDir: true },
    })
    const server: PreviewServer = await preview({
      root: exampleRoot,
      configFile: false,
      logLevel: 'silent',
      build: { outDir },
      preview: { port: 0, host: '127.0.0.1' },
    })
    cleanups.push(() => server.close())
    const app = await newPage()
    await app.goto(server.resolvedUrls?.local[0] as string)
    await app.waitForFunction(() => {
      const images = Array.from(document.querySelectorAll('img[data-recipe]')) as HTMLImageElement[]
      return images.length === 8 && images.every((img) => img.complete)
    })
    const images = await app
      .locator('img[data-recipe]')
      .evaluateAll((elements) =>
        (elements as HTMLImageElement[]).map((img) => ({ recipe: img.dataset.recipe, src: new URL(img.src).pathname, width: img.naturalWidth })),
      )
    expect(images.map((image) => image.recipe)).toEqual(['hero', 'portrait-sky', 'avatar', 'avatar', 'avatar', 'product', 'product', 'product'])
    for (const image of images) {
      expect(image.src).toMatch(/^\/assets\/[\w-]+-[\w-]{8}\.webp$/)
      expect(image.width).toBeGreaterThan(0)
    }
  })
})
