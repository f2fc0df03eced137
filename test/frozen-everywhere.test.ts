import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createLocalProvider,
  createProviderRegistry,
  DevSession,
  type EditRequest,
  type ImageEditProvider,
  isCI,
  openProject,
  resolveFrozen,
} from '@images-edit/core'
import { build, createServer } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'
import { describe, expect, it } from 'vitest'
import { makeImage, runCli, tempDir, writeFiles } from './helpers.js'

/**
 * Frozen is decided once, in core (`resolveFrozen`): every adapter passes only what the user said.
 * These tests start the engine every way an adapter can — CLI build and watch, `vite build`, a dev
 * server, a server started after a build by the same plugin instance, a framework-style internal
 * server — with CI set and nothing said, and count the provider calls: there must be none.
 */
const manifest = (prompt: string) => `version: 1
out: out
defaults: { provider: local }
recipes:
  hero:
    prompt: ${prompt}
    refs: [refs/a.png]
  card:
    prompt: a card
    refs: [refs/a.png]
`

function countingLocal() {
  const local = createLocalProvider()
  const calls: EditRequest[] = []
  const provider: ImageEditProvider = {
    ...local,
    generate: async (request, prepared, context) => {
      calls.push(request)
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return { calls, providers: createProviderRegistry({ overrides: { local: provider } }) }
}

async function project(prompt = 'a poster') {
  const temp = await tempDir('images-edit-frozen-')
  await writeFiles(temp.dir, {
    'images.edit.yaml': manifest(prompt),
    'refs/a.png': await makeImage(),
    'index.html': `<img id="hero"><script type="module">import hero from 'images-edit:hero'; document.getElementById('hero').src = hero.src</script>`,
  })
  return temp
}

const CI = { CI: 'true' }

describe('frozen is one rule in core', () => {
  it('resolveFrozen: what was said explicitly wins; otherwise frozen exactly when CI is set (not empty, 0 or false)', () => {
    expect(resolveFrozen(undefined, { CI: 'true' })).toBe(true)
    expect(resolveFrozen(undefined, { CI: '1' })).toBe(true)
    const ambient = isCI(process.env)
    // An environment given for keys only cannot unfreeze a CI process.
    for (const value of [undefined, '', '0', 'false', 'FALSE']) expect(resolveFrozen(undefined, { CI: value })).toBe(ambient)
    expect(resolveFrozen(false, { CI: 'true' })).toBe(false)
    // CI services that do not set CI: Jenkins, TeamCity, Azure Pipelines, CodeBuild. An explicit CI=false still wins.
    for (const marker of ['JENKINS_URL', 'TEAMCITY_VERSION', 'TF_BUILD', 'CODEBUILD_BUILD_ID']) {
      expect(isCI({ [marker]: 'x' }), marker).toBe(true)
      expect(isCI({ [marker]: 'x', CI: 'false' }), `${marker} with CI=false`).toBe(false)
    }
    expect(resolveFrozen(true, {})).toBe(true)
  })

  it('Project.build and a DevSession, with CI in the project environment: nothing generated; the session still restores', async () => {
    const { dir, cleanup } = await project()
    try {
      // First, outside CI: make the card (so there is something to restore later).
      const maker = countingLocal()
      const free = await openProject({ cwd: dir, providers: maker.providers, env: {} })
      await free.build({ only: ['card'], frozen: false })
      await free.close()
      expect(maker.calls).toHaveLength(1)
      await rm(join(dir, 'out/card.png'))

      const counting = countingLocal()
      const ci = await openProject({ cwd: dir, providers: counting.providers, env: CI })
      await expect(ci.build()).rejects.toMatchObject({ code: 'FROZEN' })
      const session = new DevSession(ci, {})
      await session.refresh()
      await session.idle()
      const view = (id: string) => session.jobs().find((job) => job.id === id)
      await expect.poll(() => view('card')?.phase).toBe('ready')
      expect(view('hero')?.phase).toBe('blocked')
      expect(view('hero')?.reasons.join(' ')).toMatch(/frozen/)
      expect((await readFile(join(dir, 'out/card.png'))).length).toBeGreaterThan(0)
      await session.close()
      await ci.close()
      expect(counting.calls).toHaveLength(0)
    } finally {
      await cleanup()
    }
  })

  it('the CLI: CI=true build generates nothing (exit 3); --no-frozen still generates (watch runs the DevSession above)', async () => {
    const { dir, cleanup } = await project()
    try {
      const refused = await runCli(['build'], { cwd: dir, env: CI })
      expect(refused.code).toBe(3)
      expect(refused.stderr + refused.stdout).toMatch(/frozen mode: 2 jobs would generate/)
      const generated = await runCli(['build', '--no-frozen'], { cwd: dir, env: CI })
      expect(generated.code, generated.stderr).toBe(0)
    } finally {
      await cleanup()
    }
  })

  it('vite: CI build refused, a dev server in CI generates nothing, and a server started after a build by the same plugin never runs a dev session', async () => {
    const { dir, cleanup } = await project()
    try {
      const counting = countingLocal()
      const plugin = () => imagesEdit({ providers: counting.providers, env: CI })
      await expect(build({ root: dir, configFile: false, logLevel: 'silent', plugins: [plugin()], build: { write: false } })).rejects.toThrow(/frozen mode/)

      const dev = await createServer({ root: dir, configFile: false, logLevel: 'silent', plugins: [plugin()], server: { port: 0, host: '127.0.0.1' } })
      await dev.listen()
      const code = await (await fetch(new URL('/@id/images-edit:hero', dev.resolvedUrls?.local[0]))).text()
      expect(code).toMatch(/placeholder"?: true/)
      await dev.close()
      expect(counting.calls).toHaveLength(0)

      // Outside CI, one plugin instance: a build (which generates), then a server in the same
      // process, as a framework's build does. The server serves the build's images and starts no session.
      const outside = countingLocal()
      const shared = imagesEdit({ providers: outside.providers, env: {}, frozen: false })
      await build({ root: dir, configFile: false, logLevel: 'silent', plugins: [shared], build: { write: false } })
      expect(outside.calls).toHaveLength(2)
      await writeFiles(dir, { 'images.edit.yaml': manifest('a changed poster') })
      const after = await createServer({ root: dir, configFile: false, logLevel: 'silent', plugins: [shared], server: { port: 0, host: '127.0.0.1' } })
      expect(shared.api?.dev).toBeUndefined()
      await after.close()
      expect(outside.calls).toHaveLength(2)
    } finally {
      await cleanup()
    }
  })

  it('an env option that carries only keys cannot unfreeze a CI process', async () => {
    const { dir, cleanup } = await project()
    const before = process.env.CI
    process.env.CI = 'true'
    try {
      const keysOnly = await openProject({ cwd: dir, env: { TOAPIS_API_KEY: 'sk-test' } })
      expect(keysOnly.frozen()).toBe(true)
      expect(keysOnly.frozen(false)).toBe(false)
      await keysOnly.close()
    } finally {
      if (before === undefined) delete process.env.CI
      else process.env.CI = before
      await cleanup()
    }
  })

  it('a middleware-mode dev server with HMR on (a custom SSR server) is a real dev server: it generates', async () => {
    const { dir, cleanup } = await project()
    try {
      const counting = countingLocal()
      const plugin = imagesEdit({ providers: counting.providers, frozen: false })
      const server = await createServer({ root: dir, configFile: false, logLevel: 'silent', plugins: [plugin], server: { middlewareMode: true } })
      expect(plugin.api?.dev).toBeDefined()
      await plugin.api?.idle()
      expect(counting.calls.length).toBe(2)
      await server.close()
    } finally {
      await cleanup()
    }
  })

  it('a framework-internal server (production mode, HMR off) never starts a dev session, even outside CI', async () => {
    const { dir, cleanup } = await project()
    try {
      const counting = countingLocal()
      const plugin = imagesEdit({ providers: counting.providers, env: {}, frozen: false })
      const internal = await createServer({
        root: dir,
        configFile: false,
        logLevel: 'silent',
        mode: 'production',
        plugins: [plugin],
        server: { middlewareMode: true, hmr: false, watch: null },
      })
      expect(plugin.api?.dev).toBeUndefined()
      // An import through it is answered (a placeholder), still without a call.
      const module = (await internal.ssrLoadModule('images-edit:hero')) as { default: { placeholder: boolean; width: number } }
      expect(module.default.placeholder).toBe(true)
      expect(module.default.width).toBeGreaterThan(0)
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(counting.calls).toHaveLength(0)
      await internal.close()

      // Vitest's own server (mode `test`) is one too: a test run never pays.
      const vitestLike = await createServer({
        root: dir,
        configFile: false,
        logLevel: 'silent',
        mode: 'test',
        plugins: [plugin],
        server: { middlewareMode: true },
      })
      const again = (await vitestLike.ssrLoadModule('images-edit:card')) as { default: { placeholder: boolean } }
      expect(again.default.placeholder).toBe(true)
      await vitestLike.close()
      expect(counting.calls).toHaveLength(0)
    } finally {
      await cleanup()
    }
  })
})
