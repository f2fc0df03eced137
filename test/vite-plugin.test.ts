import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLocalProvider, createProviderRegistry, type EditRequest, type ImageEditProvider, sha256 } from '@images-edit/core'
import sharp from 'sharp'
import { build, createServer, type Plugin, type Rolldown, type ViteDevServer } from 'vite'
import imagesEdit, { type ImagesEditModule, type ImagesEditPluginApi, type PanelState } from 'vite-plugin-images-edit'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, makeMask, tempDir, writeFiles } from './helpers.js'

const manifest = `version: 1
out: src/generated
defaults: { provider: local, format: webp, compression: 60 }
recipes:
  hero:
    prompt: a travel poster of this city
    refs: [refs/city.png]
    ratio: "16:9"
    n: 2
  sky:
    prompt: a starry sky behind the subject
    refs: [refs/portrait.png]
    mask: masks/portrait.png
    ratio: "4:5"
  product:
    each: refs/products/*.png
    prompt: the {stem} on a marble table
    refs: ["{file}"]
    ratio: "3:2"
    name: products/{stem}.{ext}
`

/** The local provider, recording its calls and held at a gate until the test releases it. */
function gatedLocal() {
  const local = createLocalProvider()
  const calls: EditRequest[] = []
  let open: () => void = () => {}
  let gate: Promise<void> = Promise.resolve()
  const provider: ImageEditProvider = {
    ...local,
    generate: async (request, prepared, context) => {
      calls.push(request)
      await gate
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return {
    calls,
    providers: createProviderRegistry({ overrides: { local: provider } }),
    hold: () => {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release: () => open(),
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const started = Date.now()
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('vite-plugin-images-edit', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function project(text = manifest): Promise<string> {
    const { dir, cleanup } = await tempDir('images-edit-vite-')
    cleanups.push(cleanup)
    await writeFiles(dir, {
      'images.edit.yaml': text,
      'refs/city.png': await makeImage({ width: 96, height: 54, color: { r: 40, g: 90, b: 200 } }),
      'refs/portrait.png': await makeImage({ width: 40, height: 50, color: { r: 200, g: 160, b: 120 } }),
      'masks/portrait.png': await makeMask(40, 50),
      'refs/products/mug.png': await makeImage({ width: 32, height: 32, color: { r: 190, g: 60, b: 50 } }),
      'refs/products/lamp.png': await makeImage({ width: 32, height: 32, color: { r: 230, g: 200, b: 90 } }),
      'src/entry.js':
        "export { default as hero } from 'images-edit:hero'\nexport { default as sky } from 'images-edit:sky'\nexport { default as product } from 'images-edit:product'\n",
      'index.html': '<!doctype html><img id="hero"><script type="module" src="/src/main.js"></script>\n',
      'src/main.js': "import hero from 'images-edit:hero'\nconst img = document.getElementById('hero')\nimg.src = hero.src\n",
    })
    return dir
  }

  function buildLibrary(dir: string, options: Parameters<typeof imagesEdit>[0]) {
    return build({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [imagesEdit(options)],
      build: { write: false, rollupOptions: { input: join(dir, 'src/entry.js'), preserveEntrySignatures: 'strict' } },
    })
  }

  it('vite build emits every output as a hashed asset and imports give { src, width, height, format, images }', async () => {
    const dir = await project()
    const result = await buildLibrary(dir, { frozen: false })
    const output = (Array.isArray(result) ? result : [result]).flatMap((item) => (item as Rolldown.RolldownOutput).output)
    const assets = output.filter((item): item is Rolldown.OutputAsset => item.type === 'asset')
    const names = assets.map((item) => item.fileName).sort()
    expect(names).toHaveLength(5)
    for (const [stem, name] of [
      ['hero-1', names[0]],
      ['hero-2', names[1]],
      ['lamp', names[2]],
      ['mug', names[3]],
      ['sky', names[4]],
    ]) {
      expect(name).toMatch(new RegExp(`^assets/${stem}-[\\w-]{8}\\.webp$`))
    }
    // The emitted bytes are the generated outputs, as the lock records them.
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    for (const asset of assets) expect(lock).toContain(sha256(asset.source as Uint8Array))

    const chunk = output.find((item): item is Rolldown.OutputChunk => item.type === 'chunk')
    expect(chunk?.code).toBeDefined()
    const entry = (await import(`data:text/javascript,${encodeURIComponent(chunk?.code ?? '')}`)) as Record<string, ImagesEditModule>
    const heroAssets = names.filter((name) => name.startsWith('assets/hero-'))
    expect(entry.hero).toEqual({
      recipe: 'hero',
      src: `/${heroAssets[0]}`,
      width: 1536,
      height: 864,
      format: 'webp',
      placeholder: false,
      images: heroAssets.map((name) => ({ src: `/${name}`, width: 1536, height: 864, format: 'webp', job: 'hero', placeholder: false })),
    })
    expect(entry.sky).toMatchObject({ recipe: 'sky', width: 1024, height: 1280, images: [{ job: 'sky' }] })
    expect(entry.product?.images.map((image) => [image.job, image.width, image.height])).toEqual([
      ['product/lamp.png', 1536, 1024],
      ['product/mug.png', 1536, 1024],
    ])
    const hero = assets.find((item) => item.fileName === heroAssets[0])
    const meta = await sharp(hero?.source as Uint8Array).metadata()
    expect([meta.width, meta.height, meta.format]).toEqual([1536, 864, 'webp'])
  })

  it('a manifest error fails vite build with file:line:col, the source line and the fix', async () => {
    const dir = await project(manifest.replace('ratio: "4:5"', 'ratio: "7:5"'))
    const failure = await buildLibrary(dir, { frozen: false }).then(
      () => undefined,
      (error: unknown) => error as Error,
    )
    expect(failure?.message).toMatch(/images\.edit\.yaml:14:12: error: /)
    expect(failure?.message).toContain('ratio: "7:5"')
    expect(failure?.message).toContain('fix:')
  })

  it('frozen vite build refuses before any provider call and names the stale jobs', async () => {
    const dir = await project()
    const gated = gatedLocal()
    const failure = await buildLibrary(dir, { frozen: true, providers: gated.providers }).then(
      () => undefined,
      (error: unknown) => error as Error,
    )
    expect(failure?.message).toMatch(/frozen mode: 4 jobs would generate 5 new images/)
    expect(failure?.message).toContain('- hero:')
    expect(gated.calls).toHaveLength(0)
  })

  describe('dev server', () => {
    async function start(dir: string, providers: ReturnType<typeof gatedLocal>['providers']) {
      const server: ViteDevServer = await createServer({
        root: dir,
        configFile: false,
        logLevel: 'silent',
        plugins: [imagesEdit({ providers, dts: 'src/images-edit.d.ts', frozen: false })],
        server: { port: 0, host: '127.0.0.1' },
      })
      cleanups.push(() => server.close())
      await server.listen()
      const base = server.resolvedUrls?.local[0] as string
      const api = (server.config.plugins.find((plugin) => plugin.name === 'images-edit') as Plugin<ImagesEditPluginApi>).api as ImagesEditPluginApi
      const moduleOf = async (id: string) => {
        const response = await fetch(new URL(`/@id/__x00__images-edit:${id}`, base))
        expect(response.status).toBe(200)
        return response.text()
      }
      const panel = async () => (await (await fetch(new URL('/__images-edit/state.json', base))).json()) as PanelState
      return { server, base, api, moduleOf, panel }
    }

    it('serves an exact-size placeholder first, then hot-updates the module when the job is ready', async () => {
      const dir = await project()
      const gated = gatedLocal()
      gated.hold()
      const { server, base, api, moduleOf } = await start(dir, gated.providers)

      // The server answers while every job is held at the provider.
      const first = await moduleOf('hero')
      expect(first).toContain('placeholder: true')
      expect(first).toContain('import.meta.hot.accept')
      const placeholderSrc = /src: "([^"]+)"/.exec(first)?.[1] as string
      expect(placeholderSrc).toMatch(/^\/@images-edit\/hero\/0\.webp\?v=placeholder-/)
      const placeholder = await fetch(new URL(placeholderSrc, base))
      expect(placeholder.headers.get('x-images-edit')).toBe('placeholder')
      const placeholderMeta = await sharp(Buffer.from(await placeholder.arrayBuffer())).metadata()
      expect([placeholderMeta.width, placeholderMeta.height, placeholderMeta.format]).toEqual([1536, 864, 'webp'])
      expect(gated.calls.length).toBeGreaterThan(0)

      gated.release()
      await api.idle()
      const hmr = server.environments.client.moduleGraph.getModuleById('\0images-edit:hero')
      await waitFor('the HMR update of images-edit:hero', () => (hmr?.lastHMRTimestamp ?? 0) > 0)

      const second = await moduleOf('hero')
      expect(second).toContain('placeholder: false')
      expect(second).not.toContain('placeholder: true')
      const readySrc = /src: "([^"]+)"/.exec(second)?.[1] as string
      expect(readySrc).toMatch(/^\/@images-edit\/hero\/0\.webp\?v=[0-9a-f]{16}$/)
      const ready = Buffer.from(await (await fetch(new URL(readySrc, base))).arrayBuffer())
      expect(sha256(ready)).toBe(sha256(await readFile(join(dir, 'src/generated/hero-1.webp'))))
      const readyMeta = await sharp(ready).metadata()
      expect([readyMeta.width, readyMeta.height]).toEqual([1536, 864])
      expect(await readFile(join(dir, 'src/images-edit.d.ts'), 'utf8')).toContain("declare module 'images-edit:product/mug.png'")
    })

    it('a manifest edit reruns only the recipe it changed; a broken edit keeps the last good state and reports its location', async () => {
      const dir = await project()
      const gated = gatedLocal()
      const { api, moduleOf, panel } = await start(dir, gated.providers)
      await moduleOf('hero')
      await api.idle()
      expect(gated.calls).toHaveLength(4)
      const before = await moduleOf('sky')

      await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('a starry sky', 'a stormy sky'))
      await waitFor('the edited recipe to run', () => gated.calls.length === 5)
      await api.idle()
      expect(gated.calls.at(-1)?.prompt).toBe('a stormy sky behind the subject')
      const after = await moduleOf('sky')
      expect(after).not.toBe(before)
      expect(after).toContain('placeholder: false')

      await writeFile(join(dir, 'images.edit.yaml'), manifest.replace('ratio: "4:5"', 'ratio: "7:5"'))
      const broken = await waitFor('the panel to show the manifest error', async () => {
        const state = await panel()
        return state.manifestErrors ? state : undefined
      })
      expect(broken.manifestErrors).toMatch(/images\.edit\.yaml:14:12: error: /)
      expect(broken.recipes.map((recipe) => recipe.id)).toEqual(['hero', 'sky', 'product'])
      expect(broken.counts).toMatchObject({ ready: 4 })
      expect(gated.calls).toHaveLength(5)
    })

    it('the dev panel lists every recipe and serves only the refs and masks the manifest names', async () => {
      const dir = await project()
      const gated = gatedLocal()
      gated.hold()
      const { base, panel } = await start(dir, gated.providers)
      const page = await fetch(new URL('/__images-edit/', base))
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(await page.text()).toContain('images-edit · dev panel')
      const state = await waitFor('the first plan', async () => {
        const current = await panel()
        return current.recipes.length > 0 ? current : undefined
      })
      expect(state.recipes.map((recipe) => [recipe.id, recipe.jobs.length])).toEqual([
        ['hero', 1],
        ['sky', 1],
        ['product', 2],
      ])
      const sky = state.recipes[1]?.jobs[0]
      expect(sky?.mask?.url).toBe('/__images-edit/file/masks%2Fportrait.png')
      expect(['queued', 'running']).toContain(sky?.phase)
      expect(sky?.outputs[0]).toMatchObject({ path: 'src/generated/sky.webp', ready: false, width: 1024, height: 1280 })

      expect((await fetch(new URL(sky?.refs[0]?.url as string, base))).status).toBe(200)
      expect((await fetch(new URL('/__images-edit/file/images.edit.yaml', base))).status).toBe(404)
      expect((await fetch(new URL('/__images-edit/file/..%2F..%2Fetc%2Fpasswd', base))).status).toBe(404)
      gated.release()
    })

    it('its own writes (outputs, lock, store, temporary files) in an `each` folder never refresh the session; a new input does', async () => {
      // `each: "*.png"` fans out over the manifest's own folder, where out/, .images-edit/ and the lock live.
      const { dir, cleanup } = await tempDir('images-edit-vite-')
      cleanups.push(cleanup)
      await writeFiles(dir, {
        'images.edit.yaml':
          'version: 1\nout: out\ndefaults: { provider: local }\nrecipes:\n  top:\n    each: "*.png"\n    prompt: the {stem}\n    refs: ["{file}"]\n',
        'cover.png': await makeImage({ width: 32, height: 32, color: { r: 90, g: 90, b: 90 } }),
      })
      const gated = gatedLocal()
      const { api, panel } = await start(dir, gated.providers)
      await waitFor('the first plan', async () => ((await panel()).recipes.length > 0 ? true : undefined))
      await api.idle()
      expect(gated.calls).toHaveLength(1)
      const settled = async () => {
        await new Promise((resolve) => setTimeout(resolve, 800))
        return (await panel()).recipes.flatMap((recipe) => recipe.jobs.map((job) => [job.id, job.phase, job.updatedAt]))
      }
      // The build's own writes (the output, the lock) have landed: nothing refreshes after them.
      const before = await settled()
      expect(before.map(([id, phase]) => [id, phase])).toEqual([['top/cover.png', 'ready']])
      const output = (await panel()).recipes[0]?.jobs[0]?.outputs[0]?.path as string
      await writeFiles(dir, {
        [output]: await readFile(join(dir, output)),
        'out/stray.png': await makeImage(),
        'images.edit.lock': await readFile(join(dir, 'images.edit.lock')),
        '.images-edit/scratch.json': '{}',
        '.images-edit-tmp-x.png-1-abc': 'partial',
      })
      expect(await settled()).toEqual(before)
      expect(gated.calls).toHaveLength(1)

      // An input in the same folder still refreshes: the watcher is live.
      await writeFiles(dir, { 'second.png': await makeImage({ width: 32, height: 32, color: { r: 10, g: 10, b: 10 } }) })
      await waitFor('the new fan-out job', async () => ((await panel()).recipes[0]?.jobs.length === 2 ? true : undefined))
      await api.idle()
      expect(gated.calls.map((call) => call.prompt)).toEqual(['the cover', 'the second'])
    })
  })
})
