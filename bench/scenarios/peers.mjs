// B13–B14: images-edit side by side with the peers a user would pick instead, each run as its own
// process, interleaved so load from elsewhere on the machine hits all alike. The peers are
// devDependencies of bench/ only (bench/package.json, never the root install): installed here on
// first use with `npm ci --prefix bench`, or both scenarios are skipped with the reason printed.
import { createHash, randomBytes } from 'node:crypto'
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { benchRuns, cli, cliBin, pool, repoRoot, scratch, stats, timed, withUsage } from '../lib.mjs'
import { createViteApps, indexHtml, mainJs, name, viteBin } from './vite.mjs'

const benchDir = join(repoRoot, 'bench')
const B13_IMAGES = 200
const B13_SIDE = 592 // 592² RGB noise: a ~1 MiB PNG that no encoder can shrink

let peersReady
/** Resolves with undefined once bench/'s devDependencies are installed, or with why they cannot be. */
function ensurePeers() {
  peersReady ??= (async () => {
    const missing = await stalePeers()
    if (missing.length === 0) return undefined
    console.error(
      `B13/B14: the peers (${missing.join(', ')}) are not installed at their pinned versions: running \`npm ci --prefix bench\` (bench/package.json)…`,
    )
    const install = await timed('npm', ['ci', '--prefix', benchDir, '--no-audit', '--no-fund'], { cwd: repoRoot }).catch((error) => ({
      code: -1,
      stderr: String(error),
    }))
    const still = await stalePeers()
    if (install.code === 0 && still.length === 0) {
      console.error(`B13/B14: peers installed under bench/node_modules in ${(install.ms / 1000).toFixed(1)} s`)
      return undefined
    }
    // npm's first line that says what went wrong, past its `code`/`errno` headers.
    const lines = install.stderr.trim().split('\n')
    const cause = lines.find((line) => /^npm error (?!code |syscall |errno |\s)\S/.test(line)) ?? lines.at(-1)
    return `\`npm ci --prefix bench\` exited ${install.code} (is the npm registry reachable?): ${cause}`
  })()
  return peersReady
}

/** The peers pinned in bench/package.json whose installed version is missing or different. */
async function stalePeers() {
  const pins = JSON.parse(await readFile(join(benchDir, 'package.json'), 'utf8')).devDependencies
  const stale = []
  for (const [pkg, version] of Object.entries(pins)) {
    const installed = await readFile(join(benchDir, 'node_modules', pkg, 'package.json'), 'utf8').then(JSON.parse, () => undefined)
    if (installed?.version !== version) stale.push(`${pkg}@${version}`)
  }
  return stale
}

const peerEntry = (pkg, file) => join(benchDir, 'node_modules', pkg, file)

/** Runs a command as its own process; resolves with wall and CPU (user + sys) ms, throws if it fails. */
async function measure(command, args, options = {}) {
  const wrapped = await withUsage(command, args)
  try {
    const result = await timed(wrapped.command, wrapped.args, options)
    if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code} in ${options.cwd}\n${result.stdout}\n${result.stderr}`)
    const usage = await wrapped.usage()
    return { ms: result.ms, cpuMs: usage ? usage.userMs + usage.sysMs : undefined, stdout: result.stdout }
  } finally {
    await wrapped.cleanup()
  }
}

/** Interleaves `runs` rounds of every variant (after one unmeasured round); wall and CPU stats per variant. */
async function interleaved(runs, variants) {
  for (const variant of variants) await variant.run()
  const samples = variants.map(() => ({ wall: [], cpu: [] }))
  for (let round = 0; round < runs; round++) {
    for (const [index, variant] of variants.entries()) {
      const sample = await variant.run()
      samples[index].wall.push(sample.ms)
      if (sample.cpuMs !== undefined) samples[index].cpu.push(sample.cpuMs)
    }
  }
  return samples.map((sample) => ({ ...stats(sample.wall), cpu: sample.cpu.length > 0 ? stats(sample.cpu).median : undefined }))
}

const cpuText = (result) => (result.cpu === undefined ? 'CPU n/a' : `CPU ${result.cpu.toFixed(0)} ms`)

/** Newest mtime and file count of a folder (recursively): unchanged across runs means nothing was rewritten. */
async function folderState(dir) {
  let newest = 0
  let files = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    files++
    newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs)
  }
  return `${files} files, newest ${newest}`
}

/** `count` distinct ~1 MiB PNGs of random RGB noise, encoded by sharp. */
async function writeNoiseRefs(dir, count) {
  await mkdir(dir, { recursive: true })
  const files = Array.from({ length: count }, (_, index) => join(dir, `p${String(index).padStart(3, '0')}.png`))
  await pool(files, 4, async (file) => {
    const raw = { width: B13_SIDE, height: B13_SIDE, channels: 3 }
    await writeFile(
      file,
      await sharp(randomBytes(B13_SIDE * B13_SIDE * 3), { raw })
        .png()
        .toBuffer(),
    )
  })
  return files
}

// eleventy-img's documented use: one `Image(src, options)` call per image; a warm disk cache means
// every output already sits in `outputDir` (`useCache: true`, the default), so it is not re-encoded.
const eleventyScript = (entry) => `const Image = require(${JSON.stringify(entry)})
const { readdirSync } = require('node:fs')
const { join } = require('node:path')
const [refs, outputDir] = process.argv.slice(2)
const files = readdirSync(refs).filter((file) => file.endsWith('.png')).sort()
Promise.all(files.map((file) => Image(join(refs, file), { widths: [null], formats: ['png'], outputDir, useCache: true }))).then((all) => {
  console.log(\`\${all.length} images\`)
})
`

export async function peersNoop(selected, report) {
  if (!selected('B13')) return
  const skipped = await ensurePeers()
  if (skipped) return console.error(`B13: SKIPPED — ${skipped}`)
  const runs = benchRuns(7)
  const { dir, cleanup } = await scratch('b13')
  try {
    console.error(
      `B13: ${B13_IMAGES} recipes × one ~1 MiB ref, built once; then no-op images-edit build vs eleventy-img (disk cache warm) vs node start-up, ${runs} runs each…`,
    )
    const project = join(dir, 'images-edit')
    const refs = await writeNoiseRefs(join(project, 'refs'), B13_IMAGES)
    const lines = ['version: 1', 'out: generated', 'defaults: { provider: local, ratio: "1:1", resolution: 1k, format: png }', 'recipes:']
    for (const [index, ref] of refs.entries())
      lines.push(`  p${String(index).padStart(3, '0')}:`, `    prompt: bench photo ${index}`, `    refs: [refs/${ref.split('/').at(-1)}]`)
    await writeFile(join(project, 'images.edit.yaml'), `${lines.join('\n')}\n`)
    await cli(['build', '--no-frozen', '--quiet'], { cwd: project, expectCode: 0 })

    const eleventy = join(dir, 'eleventy')
    await mkdir(eleventy, { recursive: true })
    await writeFile(join(eleventy, 'build.cjs'), eleventyScript(peerEntry('@11ty/eleventy-img', 'img.js')))
    const eleventyArgs = [join(eleventy, 'build.cjs'), join(project, 'refs'), join(eleventy, 'img')]
    const cold = await measure(process.execPath, eleventyArgs, { cwd: eleventy })
    if (!cold.stdout.includes(`${B13_IMAGES} images`)) throw new Error(`eleventy-img processed the wrong number of images: ${cold.stdout}`)

    const before = [await folderState(join(project, 'generated')), await folderState(join(eleventy, 'img'))]
    const [floor, measured, peer] = await interleaved(runs, [
      { run: () => measure(process.execPath, ['-e', '']) },
      { run: () => measure(process.execPath, [cliBin, 'build', '--frozen'], { cwd: project }) },
      { run: () => measure(process.execPath, eleventyArgs, { cwd: eleventy }) },
    ])
    // A true no-op on both sides: nothing under either output folder was written again.
    const after = [await folderState(join(project, 'generated')), await folderState(join(eleventy, 'img'))]
    const noop = before[0] === after[0] && before[1] === after[1]
    report({
      id: 'B13',
      scenario: `no-op build, ${B13_IMAGES} recipes × one ~1 MiB PNG ref, vs @11ty/eleventy-img over the same ${B13_IMAGES} PNGs, disk cache warm`,
      floor: { label: '@11ty/eleventy-img, disk cache warm', ...peer },
      measured,
      ratio: measured.median / peer.median,
      target: '≤ 0.25× eleventy-img (4× faster)',
      pass: noop && measured.median * 4 <= peer.median,
      note: `${(peer.median / measured.median).toFixed(1)}× faster; \`node -e ""\` ${floor.median.toFixed(0)} ms (images-edit floor + ${(measured.median - floor.median).toFixed(0)} ms, eleventy-img floor + ${(peer.median - floor.median).toFixed(0)} ms); ${cpuText(measured)} vs ${cpuText(peer)} (node ${floor.cpu?.toFixed(0) ?? 'n/a'}); ${noop ? 'no output rewritten' : 'OUTPUTS REWRITTEN: not a no-op'}`,
      peers: { eleventyImg: peer, nodeFloor: floor, coldEleventyImgMs: cold.ms },
    })
  } finally {
    await cleanup()
  }
}

/** sha256 of every image file under `dir`/assets, sorted, and the total bytes of `dir`. */
async function emitted(dir) {
  const images = []
  let bytes = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const content = await readFile(join(entry.parentPath, entry.name))
    bytes += content.length
    if (entry.name.endsWith('.png')) images.push(createHash('sha256').update(content).digest('hex'))
  }
  return { images: images.sort().join(','), count: images.length, bytes }
}

/** B10's static app again, its imports through vite-imagetools with its cache (in the app) warm. */
async function createImagetoolsApp(dir, plain) {
  const app = join(dir, 'imagetools')
  await mkdir(join(app, 'src/img'), { recursive: true })
  await writeFile(join(app, 'index.html'), indexHtml)
  for (const file of await readdir(join(plain, 'src/img'))) await copyFile(join(plain, 'src/img', file), join(app, 'src/img', file))
  const entry = pathToFileURL(peerEntry('vite-imagetools', 'dist/index.js')).href
  await writeFile(
    join(app, 'vite.config.mjs'),
    `import { defineConfig } from 'vite'\nimport { imagetools } from '${entry}'\n` +
      `export default defineConfig({ logLevel: 'warn', plugins: [imagetools({ cache: { dir: ${JSON.stringify(join(app, '.imagetools-cache'))} } })] })\n`,
  )
  // `format=png` re-encodes each PNG as PNG: the cached result is what is emitted, byte for byte.
  await writeFile(
    join(app, 'src/main.js'),
    mainJs((index) => `./img/${name(index)}.png?format=png`),
  )
  return app
}

export async function peersVite(selected, report) {
  if (!selected('B14')) return
  const skipped = await ensurePeers()
  if (skipped) return console.error(`B14: SKIPPED — ${skipped}`)
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b14')
  try {
    console.error(`B14: B10's 100 cached images; warm vite build through the plugin vs vite-imagetools (cache warm) vs static imports, ${runs} runs each…`)
    const { plugin, plain } = await createViteApps(dir)
    const imagetools = await createImagetoolsApp(dir, plain)
    // CI set: the plugin builds frozen, so a cache miss fails the build instead of generating.
    const build = (cwd) => () => measure(process.execPath, [viteBin, 'build'], { cwd, env: { CI: 'true' } })
    const [floor, measured, peer] = await interleaved(runs, [{ run: build(plain) }, { run: build(plugin) }, { run: build(imagetools) }])
    const outputs = await Promise.all([plain, plugin, imagetools].map((app) => emitted(join(app, 'dist'))))
    // Vite emits identical bytes once, so two recipes whose outputs match make fewer than 100 files.
    const sameImages = outputs[0].count > 0 && outputs.every((output) => output.images === outputs[0].images)
    const within = measured.median <= 1.1 * floor.median
    report({
      id: 'B14',
      scenario: 'warm vite build, 100 generated images (1024² PNG): the plugin (frozen, cached) vs vite-imagetools (cache warm) vs static imports',
      floor: { label: 'same app, the 100 PNGs as static asset imports, no plugin', ...floor },
      measured,
      ratio: measured.median / floor.median,
      target: '≤ 1.10× floor, ≤ vite-imagetools',
      pass: within && measured.median <= peer.median && sameImages,
      note:
        `vite-imagetools ${peer.median.toFixed(0)} ms (${(peer.median / floor.median).toFixed(2)}× floor, plugin ${(measured.median / peer.median).toFixed(2)}× it); ` +
        `${cpuText(floor)} / ${cpuText(measured)} / ${cpuText(peer)}; ` +
        `${outputs[0].count} emitted PNGs ${sameImages ? 'byte-identical across the three' : 'DIFFER'}, dist ${outputs.map((output) => `${(output.bytes / 1024).toFixed(0)} KiB`).join(' / ')}`,
      peers: { viteImagetools: peer, dist: outputs.map(({ count, bytes }) => ({ count, bytes })) },
    })
  } finally {
    await cleanup()
  }
}
