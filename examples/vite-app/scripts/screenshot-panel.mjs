// Takes the dev panel screenshots docs/dev-panel.png (the whole panel) and docs/review-panel.png
// (one recipe's takes and candidates): a copy of this example in a temporary folder, where the
// hero gets two takes of three candidates and an older one picked (all on the free `local`
// provider), its dev server on a free port, one recipe kept mid-generation so the panel shows a
// live job next to finished ones, and Debian's Chromium. Run from the repository root:
//   node examples/vite-app/scripts/screenshot-panel.mjs
import { cp, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLocalProvider, createProviderRegistry, openProject } from '@images-edit/core'
import { chromium } from 'playwright-core'
import sharp from 'sharp'
import { createServer } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'

const example = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = join(example, '../../docs/dev-panel.png')
const reviewTarget = join(example, '../../docs/review-panel.png')
const dir = await mkdtemp(join(tmpdir(), 'images-edit-panel-'))
await cp(example, dir, { recursive: true, filter: (path) => !/[\\/](node_modules|dist|\.images-edit)$/.test(path) })
// The copy starts as a fresh project (no lock, no outputs, no store), so its takes are its own:
// every recipe but the avatar is built at once; the hero gets a second take of three candidates,
// then the second image of its first take is picked, as a designer reviewing it would. The
// avatar is made by the dev server, kept mid-generation below.
await rm(join(dir, 'images.edit.lock'))
await rm(join(dir, 'src/images-edit'), { recursive: true })
const project = await openProject({ manifest: join(dir, 'images.edit.yaml') })
await project.build({ only: ['hero', 'portrait-sky', 'product'], frozen: false })
await project.build({ only: ['hero'], force: ['hero'], frozen: false })
await project.pick({ job: 'hero', take: 1, images: [2] })
await project.close()

const local = createLocalProvider()
const providers = createProviderRegistry({
  overrides: {
    local: {
      ...local,
      // Reports progress, then waits: the screenshot catches the job running.
      generate: async (_request, _prepared, context) => {
        context.onProgress({ stage: 'running', percent: 45 })
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve))
        throw new Error('stopped')
      },
    },
  },
})

const server = await createServer({
  root: dir,
  configFile: false,
  logLevel: 'silent',
  plugins: [imagesEdit({ providers })],
  server: { port: 0, host: '127.0.0.1' },
})
await server.listen()
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
})
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1, colorScheme: 'light' })
  await page.goto(new URL('/__images-edit/', server.resolvedUrls.local[0]).href)
  await page.waitForFunction(() => document.querySelector('[data-recipe="avatar"]')?.getAttribute('data-state') === 'running')
  await page.waitForFunction(() => document.querySelectorAll('[data-recipe="hero"] .candidate').length === 6)
  await page.waitForFunction(() => [...document.images].every((img) => !img.closest('[open]') || (img.complete && img.naturalWidth > 0)))
  await page.waitForTimeout(300)
  await save(await page.screenshot({ fullPage: true }), target)
  await save(await page.locator('[data-recipe="hero"]').screenshot(), reviewTarget)
} finally {
  await browser.close()
  await server.close()
  await rm(dir, { recursive: true, force: true })
}

/** A palette PNG keeps the README light (well under 200 KB). */
async function save(png, path) {
  await sharp(png).png({ palette: true, quality: 90, effort: 10 }).toFile(path)
  const meta = await sharp(path).metadata()
  console.log(`wrote ${path}: ${meta.width}×${meta.height}, ${((await stat(path)).size / 1024).toFixed(0)} KB`)
}
