// B10: `vite build` of an app whose 100 images are images-edit recipes, all cached (lock, outputs
// and store present, frozen as in CI), against the same app without the plugin importing the same
// 100 PNG files as static assets. Both apps live in one scratch folder whose `node_modules` links
// to the repository's, so they resolve the workspace's vite and plugin.
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { benchRuns, cli, repoRoot, scratch, stats, timed } from '../lib.mjs'
import { smallPng } from './fixtures.mjs'

const RECIPES = 100
export const viteBin = join(repoRoot, 'node_modules/vite/bin/vite.js')
export const name = (index) => `r${String(index).padStart(3, '0')}`

export const indexHtml = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>bench</title></head>
  <body><main id="app"></main><script type="module" src="/src/main.js"></script></body>
</html>
`

/** The page: one <img> per image, from 100 imports (a default export that is a URL or `{ src }`). */
export function mainJs(importOf) {
  const lines = []
  for (let index = 0; index < RECIPES; index++) lines.push(`import ${name(index)} from '${importOf(index)}'`)
  lines.push(
    `const images = [${Array.from({ length: RECIPES }, (_, index) => name(index)).join(', ')}]`,
    "const app = document.querySelector('#app')",
    'for (const image of images) {',
    "  const img = document.createElement('img')",
    '  img.src = typeof image === "string" ? image : image.src',
    '  app.append(img)',
    '}',
  )
  return `${lines.join('\n')}\n`
}

const viteConfig = (withPlugin) =>
  withPlugin
    ? `import { defineConfig } from 'vite'\nimport imagesEdit from 'vite-plugin-images-edit'\nexport default defineConfig({ logLevel: 'warn', plugins: [imagesEdit()] })\n`
    : `import { defineConfig } from 'vite'\nexport default defineConfig({ logLevel: 'warn' })\n`

/**
 * Writes both apps under `dir`: `with-plugin/` (manifest, refs, lock, store and outputs, built
 * once on `local`) and `static/` (the same PNG bytes as plain asset imports).
 */
export async function createViteApps(dir) {
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir')
  const plugin = join(dir, 'with-plugin')
  const plain = join(dir, 'static')
  for (const app of [plugin, plain]) {
    await mkdir(join(app, 'src'), { recursive: true })
    await writeFile(join(app, 'index.html'), indexHtml)
  }
  await writeFile(join(plugin, 'vite.config.mjs'), viteConfig(true))
  await writeFile(join(plain, 'vite.config.mjs'), viteConfig(false))

  // The plugin app: 100 recipes (one small ref each, 1k 1:1 PNG), built once on `local`.
  await mkdir(join(plugin, 'refs'), { recursive: true })
  const lines = ['version: 1', 'out: src/images-edit', 'defaults: { provider: local, ratio: "1:1", resolution: 1k, format: png }', 'recipes:']
  for (let index = 0; index < RECIPES; index++) {
    await writeFile(join(plugin, `refs/${name(index)}.png`), await smallPng(index, 7))
    lines.push(`  ${name(index)}:`, `    prompt: bench image ${index}`, `    refs: [refs/${name(index)}.png]`)
  }
  await writeFile(join(plugin, 'images.edit.yaml'), `${lines.join('\n')}\n`)
  await cli(['build', '--no-frozen', '--quiet'], { cwd: plugin, expectCode: 0 })
  await writeFile(
    join(plugin, 'src/main.js'),
    mainJs((index) => `images-edit:${name(index)}`),
  )

  // The same app without the plugin: the same PNG bytes imported as static assets.
  await mkdir(join(plain, 'src/img'), { recursive: true })
  for (let index = 0; index < RECIPES; index++) {
    await copyFile(join(plugin, `src/images-edit/${name(index)}.png`), join(plain, `src/img/${name(index)}.png`))
  }
  await writeFile(
    join(plain, 'src/main.js'),
    mainJs((index) => `./img/${name(index)}.png`),
  )
  return { plugin, plain }
}

export async function viteBuild(selected, report) {
  if (!selected('B10')) return
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b10')
  try {
    console.error(`B10: ${RECIPES} recipes generated once on the local provider, then vite build with and without the plugin, ${runs} runs each…`)
    const { plugin, plain } = await createViteApps(dir)
    // CI set: the plugin builds frozen, so a cache miss fails the build instead of generating.
    const build = async (cwd) => {
      const result = await timed(process.execPath, [viteBin, 'build'], { cwd, env: { CI: 'true' } })
      if (result.code !== 0) throw new Error(`vite build in ${cwd} exited ${result.code}\n${result.stdout}\n${result.stderr}`)
      return result.ms
    }
    await build(plain)
    await build(plugin)
    // Interleaved, so load from elsewhere on the machine hits both alike.
    const floorValues = []
    const measuredValues = []
    for (let run = 0; run < runs; run++) {
      floorValues.push(await build(plain))
      measuredValues.push(await build(plugin))
    }
    const floor = stats(floorValues)
    const measured = stats(measuredValues)
    report({
      id: 'B10',
      scenario: `vite build, ${RECIPES} cached recipes (1024² PNG) through the plugin, frozen`,
      floor: { label: `same app, the ${RECIPES} PNGs as static asset imports, no plugin`, ...floor },
      measured,
      ratio: measured.median / floor.median,
      target: '≤ 1.10× floor',
      pass: measured.median <= 1.1 * floor.median,
      note: `floor + ${(measured.median - floor.median).toFixed(0)} ms`,
    })
  } finally {
    await cleanup()
  }
}
