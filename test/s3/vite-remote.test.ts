/**
 * The Vite plugin's build restores outputs from the team store. A builds through the real CLI,
 * pays, and pushes to the bucket (s3rver on 127.0.0.1 behind the test proxy). B is a fresh clone:
 * the lock is committed, the outputs and the store are git-ignored. A real `vite build` of a tiny
 * app importing `images-edit:<recipe>`, frozen because CI is set, with no provider key and only
 * bucket access, succeeds for free and emits A's images byte for byte. With the team store turned
 * off it is the frozen refusal; with the bucket down, the team store's refusal; nothing is paid.
 */
import { join } from 'node:path'
import { build, createLogger, type Rolldown } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CI_VARIABLES, listFiles, runCli, writeFiles } from '../helpers.js'
import { KEY_ENV } from '../providers/harness.js'
import { S3_CREDENTIALS } from './s3-server.js'
import { closedPort, outputsOf, Team } from './team-fixture.js'

const team = new Team()
beforeAll(() => team.start())
afterAll(() => team.release())

/**
 * CI's environment: CI set (so frozen), the provider's base URLs (a paid call would reach the fake
 * and be counted) but no provider key, bucket credentials but no team key.
 */
function ciEnv(prefix: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { CI: 'true' }
  for (const [name, value] of Object.entries(team.env(prefix, { IMAGES_EDIT_REMOTE_KEY: undefined, ...extra })))
    if (value !== undefined && !Object.values(KEY_ENV).includes(name)) env[name] = value
  return env
}

/** A fresh clone of A as git has it (manifest, refs, masks, lock) plus a tiny Vite app; `out/` and `.images-edit/` are ignored, so absent. */
async function cloneOf(source: string): Promise<string> {
  const dir = await team.clone(source, true)
  await writeFiles(dir, {
    '.gitignore': 'out/\n.images-edit/\ndist/\n',
    'index.html': '<!doctype html><img id="hero"><img id="card"><script type="module" src="/src/main.js"></script>\n',
    'src/main.js': [
      "import card from 'images-edit:card'",
      "import hero from 'images-edit:hero'",
      "document.getElementById('hero').src = hero.src",
      "document.getElementById('card').src = card.src",
      'window.images = [...hero.images, ...card.images].map((image) => image.src)',
      '',
    ].join('\n'),
  })
  return dir
}

/** Runs `work` with exactly `env` as the process's images-edit, AWS, provider-key and CI variables; restores them after. */
async function inProcessEnv<T>(env: NodeJS.ProcessEnv, work: () => Promise<T>): Promise<T> {
  const saved = { ...process.env }
  const ours = (name: string) =>
    /^(IMAGES_EDIT_|AWS_)/.test(name) || Object.values(KEY_ENV).includes(name) || (CI_VARIABLES as readonly string[]).includes(name)
  for (const name of Object.keys(process.env)) if (ours(name)) delete process.env[name]
  Object.assign(process.env, env)
  try {
    return await work()
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
    Object.assign(process.env, saved)
  }
}

/**
 * A real `vite build` of the clone's app (nothing written: the output is returned), with what
 * Vite's logger was told. `env` goes to the plugin's `env` option; without it the plugin reads
 * `process.env`, as `imagesEdit()` in a vite.config.ts does.
 */
async function viteBuild(dir: string, env?: NodeJS.ProcessEnv, options: { remote?: boolean } = {}) {
  const logs: string[] = []
  const logger = createLogger('info', { allowClearScreen: false })
  logger.info = (message) => void logs.push(message)
  logger.warn = (message) => void logs.push(`warn: ${message}`)
  logger.warnOnce = logger.warn
  logger.error = (message) => void logs.push(`error: ${message}`)
  try {
    const result = await build({
      root: dir,
      configFile: false,
      envDir: false,
      // 'warn' keeps Vite's progress reporter off stdout; the custom logger still hears everything.
      logLevel: 'warn',
      customLogger: logger,
      plugins: [imagesEdit({ ...(env ? { env } : {}), ...options })],
      build: { write: false, rollupOptions: { input: join(dir, 'index.html') } },
    })
    const output = (Array.isArray(result) ? result : [result]).flatMap((item) => (item as Rolldown.RolldownOutput).output)
    return { ok: true as const, output, logs }
  } catch (error) {
    return { ok: false as const, error: error as Error, logs }
  }
}

describe.sequential('vite build in a fresh clone, in CI, restores from the team store', () => {
  let projectA = ''
  let prefix = ''
  let outputsA: Record<string, string> = {}

  beforeAll(async () => {
    ;({ dir: projectA, prefix } = await team.project())
    const before = team.paid()
    const result = await runCli(['build'], { cwd: projectA, env: team.env(prefix) })
    expect(result.code, result.stderr).toBe(0)
    expect(team.paid() - before).toBe(2)
    outputsA = await outputsOf(projectA)
    expect(Object.keys(outputsA)).toEqual(['card.png', 'hero-1.png', 'hero-2.png'])
    const puts = team.bucket.requests.filter((line) => line.startsWith(`PUT /${team.bucket.bucket}/${prefix}/objects/`))
    expect(puts).toHaveLength(3)
  })

  for (const via of ['process.env', 'the env option'] as const) {
    it(`B (environment through ${via}): no provider key, bucket access only: succeeds, 0 paid submits, assets byte-identical to A's`, async () => {
      const cloneB = await cloneOf(projectA)
      expect(await listFiles(join(cloneB, 'out'))).toEqual([])
      const before = team.paid()
      const requests = team.bucket.requests.length
      const built = via === 'process.env' ? await inProcessEnv(ciEnv(prefix), () => viteBuild(cloneB)) : await viteBuild(cloneB, ciEnv(prefix))
      if (!built.ok) throw new Error(`vite build of the fresh clone failed: ${built.error.message}\n${built.logs.join('\n')}`)
      expect(team.paid() - before, 'paid submits during the vite build').toBe(0)

      const assets = built.output.filter((item): item is Rolldown.OutputAsset => item.type === 'asset' && item.fileName.endsWith('.png'))
      expect(assets).toHaveLength(3)
      const emitted = new Map(assets.map((asset) => [Buffer.from(asset.source as Uint8Array).toString('base64'), asset.fileName]))
      for (const [file, bytes] of Object.entries(outputsA)) {
        const stem = file.replace(/\.png$/, '')
        expect(emitted.get(bytes), `no emitted asset has the bytes of A's out/${file}`).toMatch(new RegExp(`^assets/${stem}-[\\w-]{8}\\.png$`))
      }
      // The app's code points at those assets.
      const code = built.output.flatMap((item) => (item.type === 'chunk' ? [item.code] : [])).join('\n')
      for (const fileName of emitted.values()) expect(code).toContain(`/${fileName}`)
      // Restored into the clone's out/ as well, and said so.
      expect(await outputsOf(cloneB)).toEqual(outputsA)
      expect(built.logs).toContain('[images-edit] 2 jobs: 0 up to date, 2 restored from the store, 0 to generate (0 new images, 0 paid)')
      // A frozen CI build only reads the bucket (the lock's sha256 pins): nothing is pushed.
      const made = team.bucket.requests.slice(requests)
      expect(made.filter((line) => line.startsWith(`GET /${team.bucket.bucket}/${prefix}/objects/`))).toHaveLength(3)
      expect(made.filter((line) => !/^(GET|HEAD) /.test(line))).toEqual([])
    })
  }

  it('control: the same clone with the team store turned off (IMAGES_EDIT_REMOTE=off) is the frozen refusal, 0 paid submits', async () => {
    const clone = await cloneOf(projectA)
    const before = team.paid()
    const built = await viteBuild(clone, ciEnv(prefix, { IMAGES_EDIT_REMOTE: 'off' }))
    expect(built.ok, 'vite build without the team store succeeded: the images above did not need the bucket').toBe(false)
    if (built.ok) return
    expect(built.error.message).toMatch(/frozen mode: 2 jobs would generate 3 new images/)
    expect(team.paid()).toBe(before)
  })

  for (const down of ['the proxy drops every request', 'nothing listens on the port'] as const) {
    it(`with the bucket down (${down}) the vite build fails with the team store's refusal, 0 paid submits`, async () => {
      const clone = await cloneOf(projectA)
      const before = team.paid()
      const extra = down === 'nothing listens on the port' ? { IMAGES_EDIT_REMOTE_ENDPOINT: `http://127.0.0.1:${await closedPort()}` } : {}
      if (down === 'the proxy drops every request') team.bucket.inject(() => 'drop')
      let built: Awaited<ReturnType<typeof viteBuild>>
      try {
        built = await viteBuild(clone, ciEnv(prefix, extra))
      } finally {
        team.bucket.inject(undefined)
      }
      expect(built.ok, 'vite build succeeded with the team store down').toBe(false)
      if (built.ok) return
      const { message } = built.error
      expect(message).toContain('[plugin images-edit]')
      expect(message).toMatch(
        new RegExp(
          `could not ask the team store s3://${team.bucket.bucket}/${prefix} whether 2 jobs already exist \\(.* failed 5 times; last: .*\\)\\. Nothing was generated`,
        ),
      )
      expect(message).toMatch(/^ {2}- hero: not in the local store; the team store could not be asked \(2 new images\)$/m)
      expect(message).toMatch(/^ {2}- card: not in the local store; the team store could not be asked \(1 new image\)$/m)
      expect(message).not.toMatch(/frozen mode/)
      expect(message).toContain('In Vite, pass imagesEdit({ remote: false }) (or set IMAGES_EDIT_REMOTE=off) to generate here without the team store.')
      expect(message).not.toContain(S3_CREDENTIALS.secretAccessKey)
      // Scripts can tell this refusal from others by Rollup's plugin code.
      expect((built.error as { errors?: { pluginCode?: string }[] }).errors?.[0]?.pluginCode).toBe('REMOTE')
      expect(team.paid()).toBe(before)
      expect(await listFiles(join(clone, 'out'))).toEqual([])
    })
  }

  it('imagesEdit({ remote: false }) does not ask the bucket: in CI that is the frozen refusal, not the team store one', async () => {
    const clone = await cloneOf(projectA)
    const requests = team.bucket.requests.length
    const built = await viteBuild(clone, ciEnv(prefix), { remote: false })
    expect(built.ok).toBe(false)
    if (built.ok) return
    expect(built.error.message).toMatch(/frozen mode: 2 jobs would generate 3 new images/)
    expect((built.error as { errors?: { pluginCode?: string }[] }).errors?.[0]?.pluginCode).toBe('FROZEN')
    expect(team.bucket.requests.length).toBe(requests)
  })

  it('an env option with only the keys does not hide the team store CI set in process.env', async () => {
    const clone = await cloneOf(projectA)
    const before = team.paid()
    const built = await inProcessEnv(ciEnv(prefix), () => viteBuild(clone, { CI: 'true', TOAPIS_API_KEY: 'key-only' }))
    if (!built.ok) throw new Error(`vite build failed: ${built.error.message}`)
    expect(team.paid()).toBe(before)
    expect(await outputsOf(clone)).toEqual(outputsA)
  })
})
