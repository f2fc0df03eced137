// Takes the dev panel screenshot of docs/dev-panel.png: a copy of this example in a temporary
// folder, its dev server on a free port, one recipe kept mid-generation so the panel shows a live
// job next to finished ones, and Debian's Chromium. Run from the repository root:
//   node examples/vite-app/scripts/screenshot-panel.mjs
import { cp, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLocalProvider, createProviderRegistry } from '@images-edit/core'
import { chromium } from 'playwright-core'
import sharp from 'sharp'
import { createServer } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'

const example = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = join(example, '../../docs/dev-panel.png')
const dir = await mkdtemp(join(tmpdir(), 'images-edit-panel-'))
await cp(example, dir, { recursive: true, filter: (path) => !/[\\/](node_modules|dist|\.images-edit)$/.test(path) })
// The avatar takes are made anew; everything else is up to date from the committed lock.
for (const take of [1, 2, 3]) await rm(join(dir, `src/images-edit/avatar-${take}.webp`))

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
  await page.waitForFunction(() => [...document.images].every((img) => img.complete && img.naturalWidth > 0))
  await page.waitForTimeout(300)
  const png = await page.screenshot({ fullPage: true })
  // A palette PNG keeps the README light (well under 200 KB).
  await sharp(png).png({ palette: true, quality: 90, effort: 10 }).toFile(target)
  const meta = await sharp(target).metadata()
  console.log(`wrote ${target}: ${meta.width}×${meta.height}, ${((await stat(target)).size / 1024).toFixed(0)} KB`)
} finally {
  await browser.close()
  await server.close()
  await rm(dir, { recursive: true, force: true })
}
