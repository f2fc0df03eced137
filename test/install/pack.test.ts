/**
 * Installable from the registry as published (issue 10): the three packages are built and packed
 * with `npm pack`, and the tarballs — exactly what `npm publish` would upload — are checked and
 * installed into scratch projects outside the monorepo (under the OS temp folder), so nothing
 * resolves through the workspace's node_modules:
 *
 * - every tarball has a README, an MIT LICENSE, repository/homepage/bugs/keywords, no source maps,
 *   no build output without a source (a stale dist), and no test hook (IMAGES_EDIT_CRASH_AT);
 *   `@images-edit/core` is required with a `^` range, never `*`;
 * - a project made by `npm create vite@latest -- --template vanilla-ts` installs the three tarballs
 *   beside its own dependencies; there `images-edit validate` and `images-edit build --no-frozen`
 *   (offline `local` provider, a real PNG ref) write the outputs, and `vite build` with the plugin
 *   and a `images-edit:<recipe>` import emits the image into dist/assets (frozen, as in CI);
 * - the CLI tarball installed with only core's tarball: npm satisfies the CLI's range with the
 *   tarball (core is not on the registry yet) and `images-edit --version` works.
 *
 * Needs the npm registry (create-vite, vite, sharp…; `--prefer-offline` reuses the npm cache).
 * Every step's duration is printed (`[install] …`) and summed up in `[install figures]`.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, repoRoot } from '../helpers.js'

const PACKAGES = [
  { dir: 'core', name: '@images-edit/core' },
  { dir: 'cli', name: 'images-edit' },
  { dir: 'vite-plugin', name: 'vite-plugin-images-edit' },
] as const
type PackageDir = (typeof PACKAGES)[number]['dir']

const MINUTE = 60_000
const isWindows = process.platform === 'win32'

/** Step durations, in order, for the summary line. */
const figures: Record<string, number> = {}
let scratch = ''
const tarballs = {} as Record<PackageDir, { file: string; entries: Map<string, Buffer> }>

interface StepResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * The environment of every command: the test's own, minus what would tie a child to this run —
 * npm's per-script and per-project settings (set when the suite runs under `npm test`), vitest's
 * markers, NODE_OPTIONS, NODE_ENV and CI. The npm cache, registry and proxy settings stay.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  const projectScoped =
    /^npm_(lifecycle_|package_|command$|execpath$|node_execpath$|config_(local_prefix|prefix|global|workspaces?|include_workspace_root|omit|include|production|dry_run|save|package_lock|ignore_scripts|node_options))/i
  for (const key of Object.keys(env)) {
    if (projectScoped.test(key) || /^(VITEST|VITE_)/i.test(key) || ['INIT_CWD', 'NODE_OPTIONS', 'NODE_ENV', 'CI', 'TEST'].includes(key.toUpperCase())) {
      delete env[key]
    }
  }
  return { ...env, NO_COLOR: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra }
}

/** Runs one command to its end, prints how long it took and records it under `name`. */
async function step(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<StepResult> {
  const started = performance.now()
  const child = spawn(command, args, { cwd: options.cwd, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'], shell: isWindows })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 4 * MINUTE)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (exit) => resolve(exit))
  }).finally(() => clearTimeout(timer))
  const ms = Math.round(performance.now() - started)
  figures[name] = ms
  console.log(`[install] ${name}: ${(ms / 1000).toFixed(1)}s (exit ${code})`)
  return { code, stdout, stderr }
}

/** Like {@link step}, and the command must exit 0. */
async function ok(name: string, command: string, args: string[], options: Parameters<typeof step>[3]): Promise<StepResult> {
  const result = await step(name, command, args, options)
  expect(result.code, `${name}: ${command} ${args.join(' ')} in ${options.cwd}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(0)
  return result
}

/** `npx --no -- <bin> …`: a binary of the project's own node_modules, never one fetched from the registry. */
const npx = (bin: string, ...args: string[]) => ['--no', '--', bin, ...args]

/** The files of a gzipped tar (as `npm pack` writes it: ustar, with pax headers for long names). */
function untar(gz: Buffer): Map<string, Buffer> {
  const tar = gunzipSync(gz)
  const files = new Map<string, Buffer>()
  let paxPath: string | undefined
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512)
    if (header.every((byte) => byte === 0)) break
    const text = (from: number, length: number) =>
      header
        .subarray(from, from + length)
        .toString('utf8')
        .replace(/\0.*$/s, '')
    const size = Number.parseInt(text(124, 12).trim() || '0', 8)
    const type = text(156, 1) || '0'
    const prefix = text(345, 155)
    const name = paxPath ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100))
    const body = tar.subarray(offset + 512, offset + 512 + size)
    paxPath = undefined
    if (type === 'x') paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1]
    else if (type === '0') files.set(name.replace(/^package\//, ''), Buffer.from(body))
    offset += 512 + Math.ceil(size / 512) * 512
  }
  return files
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** The resolved locations of our packages in a project's package-lock.json. */
async function lockedPackages(dir: string): Promise<Record<string, { version?: string; resolved?: string }>> {
  const lock = JSON.parse(await readFile(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; resolved?: string }> }
  return Object.fromEntries(Object.entries(lock.packages).filter(([path]) => PACKAGES.some((item) => path.endsWith(`node_modules/${item.name}`))))
}

beforeAll(async () => {
  console.log(`[install] node ${process.version}, ${process.platform}-${process.arch}`)
  scratch = await mkdtemp(join(tmpdir(), 'images-edit-install-'))
  // Outside the monorepo, so npm finds neither its workspaces nor its node_modules.
  expect(relative(repoRoot, scratch).split(sep)[0], `${scratch} must be outside ${repoRoot}`).toBe('..')
  const npmVersion = await ok('npm --version', 'npm', ['--version'], { cwd: scratch })
  console.log(`[install] npm ${npmVersion.stdout.trim()}`)

  // The same build as the root `prepare` script (incremental: a clean checkout builds from scratch).
  await ok('build (tsc -b)', process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-b', ...PACKAGES.map((item) => `packages/${item.dir}`)], {
    cwd: repoRoot,
  })
  const destination = join(scratch, 'tarballs')
  await mkdir(destination)
  for (const item of PACKAGES) {
    const packed = await ok(`npm pack ${item.name}`, 'npm', ['pack', '--json', '--pack-destination', destination], {
      cwd: join(repoRoot, 'packages', item.dir),
    })
    const [report] = JSON.parse(packed.stdout) as [{ filename: string }]
    const file = join(destination, report.filename)
    tarballs[item.dir] = { file, entries: untar(await readFile(file)) }
  }
}, 4 * MINUTE)

afterAll(async () => {
  console.log(`[install figures] ${JSON.stringify(figures)}`)
  if (scratch) await rm(scratch, { recursive: true, force: true, maxRetries: 5 })
})

describe('the tarballs, as npm publish would upload them', () => {
  for (const item of PACKAGES) {
    it(`${item.name}: README, LICENSE, metadata; no source maps, stale output or test hooks`, async () => {
      const { entries } = tarballs[item.dir]
      const paths = [...entries.keys()].sort()
      expect(paths).toContain('README.md')
      expect(paths).toContain('LICENSE')
      // The start-up bundles ship: the CLI's bin runs them (docs/ARCHITECTURE.md, "Start-up").
      if (item.dir === 'cli') expect(paths).toContain('dist/bundle/main.js')
      if (item.dir === 'core') expect(paths).toContain('dist/bundle/index.js')
      const license = entries.get('LICENSE')?.toString('utf8') ?? ''
      expect(license).toMatch(/^MIT License/)
      expect(license).toContain('Copyright (c) 2026 images-edit contributors')
      expect((entries.get('README.md')?.toString('utf8') ?? '').length).toBeGreaterThan(200)

      expect(
        paths.filter((path) => path.endsWith('.map')),
        'source maps (they would point at sources that are not shipped)',
      ).toEqual([])
      const sources = join(repoRoot, 'packages', item.dir, 'src')
      // dist/bundle/ is made from the compiled modules (packages/cli/scripts/bundle.mjs), not from one source each.
      const stale = paths.filter((path) => {
        if (path.startsWith('dist/bundle/')) return false
        const match = /^dist\/(.+?)(\.d)?\.js$|^dist\/(.+?)\.d\.ts$/.exec(path)
        const stem = match?.[1] ?? match?.[3]
        return match && stem && !existsSync(join(sources, `${stem}.ts`))
      })
      expect(stale, 'build output without a source: a stale dist (rm -rf dist *.tsbuildinfo and build again)').toEqual([])
      for (const [path, bytes] of entries) {
        const text = bytes.toString('utf8')
        expect(text, `${path} carries the crash-test hook`).not.toMatch(/IMAGES_EDIT_CRASH_AT|crashPoint|crash-points/)
        if (/\.(js|ts)$/.test(path)) expect(text, `${path} names a source map`).not.toContain('sourceMappingURL')
      }

      const manifest = JSON.parse(entries.get('package.json')?.toString('utf8') ?? '{}') as Record<string, unknown> & {
        dependencies?: Record<string, string>
        repository?: Record<string, string>
        files?: string[]
      }
      const core = JSON.parse(await readFile(join(repoRoot, 'packages/core/package.json'), 'utf8')) as { version: string }
      expect(manifest.name).toBe(item.name)
      expect(manifest.license).toBe('MIT')
      expect(manifest.repository).toEqual({ type: 'git', url: 'git+https://github.com/images-edit/images-edit.git', directory: `packages/${item.dir}` })
      expect(manifest.homepage).toMatch(/^https:\/\/github\.com\/images-edit\/images-edit/)
      expect(manifest.bugs).toEqual({ url: 'https://github.com/images-edit/images-edit/issues' })
      expect((manifest.keywords as string[] | undefined)?.length).toBeGreaterThan(0)
      for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
        expect(range, `${name}: a range the registry can resolve`).toMatch(/^[\^~]?\d/)
      }
      if (item.dir !== 'core') expect(manifest.dependencies?.['@images-edit/core']).toBe(`^${core.version}`)
      if (item.dir === 'cli') expect(paths).toContain('bin/images-edit.js')
    })
  }
})

describe('installed from the tarballs', () => {
  it(
    'a fresh `npm create vite` project: images-edit validate and build, then vite build with the plugin',
    async () => {
      await ok(
        'npm create vite@latest (vanilla-ts)',
        'npm',
        ['create', '--yes', '--prefer-offline', 'vite@latest', 'app', '--', '--template', 'vanilla-ts', '--no-interactive', '--no-immediate'],
        { cwd: scratch },
      )
      const app = join(scratch, 'app')
      expect(existsSync(join(app, 'package.json')), 'create-vite made the project').toBe(true)
      const files = PACKAGES.map((item) => tarballs[item.dir].file)
      await ok('npm install (project deps + 3 tarballs)', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...files], {
        cwd: app,
      })
      // Each package is the tarball's, resolved by npm as a registry install would place it.
      const locked = await lockedPackages(app)
      for (const item of PACKAGES) {
        expect(locked[`node_modules/${item.name}`]?.resolved, `${item.name} comes from its tarball`).toMatch(/^file:.*\.tgz$/)
      }
      expect(Object.keys(locked).sort(), 'one copy of each package, no nested core').toEqual(PACKAGES.map((item) => `node_modules/${item.name}`).sort())

      await mkdir(join(app, 'refs'))
      await writeFile(join(app, 'refs/photo.png'), await makeImage({ width: 64, height: 48, color: { r: 200, g: 80, b: 40 } }))
      await writeFile(
        join(app, 'images.edit.yaml'),
        [
          'version: 1',
          'out: generated',
          'defaults:',
          '  provider: local',
          'recipes:',
          '  hero:',
          '    prompt: a warm poster of the photo',
          '    refs: [refs/photo.png]',
          '',
        ].join('\n'),
      )
      await writeFile(
        join(app, 'vite.config.ts'),
        "import { defineConfig } from 'vite'\nimport imagesEdit from 'vite-plugin-images-edit'\n\nexport default defineConfig({ plugins: [imagesEdit()] })\n",
      )
      await writeFile(
        join(app, 'src/main.ts'),
        [
          '/// <reference types="vite-plugin-images-edit/client" />',
          "import hero from 'images-edit:hero'",
          '',
          "const img = document.createElement('img')",
          'img.src = hero.src',
          'img.width = hero.width',
          'img.height = hero.height',
          "document.querySelector<HTMLDivElement>('#app')?.append(img)",
          '',
        ].join('\n'),
      )

      const version = await ok('images-edit --version', 'npx', npx('images-edit', '--version'), { cwd: app })
      expect(version.stdout.trim()).toBe(JSON.parse(await readFile(join(repoRoot, 'packages/cli/package.json'), 'utf8')).version)
      const validate = await ok('images-edit validate', 'npx', npx('images-edit', 'validate'), { cwd: app })
      expect(validate.stdout).toContain('valid')
      await ok('images-edit build --no-frozen', 'npx', npx('images-edit', 'build', '--no-frozen'), { cwd: app })
      const output = await readFile(join(app, 'generated/hero.png'))
      expect(output.subarray(1, 4).toString('latin1'), 'generated/hero.png is a PNG').toBe('PNG')
      expect(existsSync(join(app, 'images.edit.lock')), 'the lock is written').toBe(true)

      // The template's own type check, with the plugin's client types for `images-edit:*`.
      await ok('tsc (template typecheck)', 'npx', npx('tsc'), { cwd: app })
      // Frozen, as in CI: everything is in the lock and the store, so nothing runs.
      await ok('vite build', 'npx', npx('vite', 'build'), { cwd: app, env: { CI: 'true' } })
      const assets = await readdir(join(app, 'dist/assets'))
      const emitted = assets.filter((name) => /^hero-.*\.png$/.test(name))
      expect(emitted, `dist/assets: ${assets.join(', ')}`).toHaveLength(1)
      expect(sha256(await readFile(join(app, 'dist/assets', emitted[0] ?? ''))), 'the emitted asset is the generated image').toBe(sha256(output))
      const bundle = assets.filter((name) => name.endsWith('.js'))
      const js = (await Promise.all(bundle.map((name) => readFile(join(app, 'dist/assets', name), 'utf8')))).join('\n')
      expect(js, 'the bundle references the emitted image').toContain(emitted[0])
    },
    6 * MINUTE,
  )

  it(
    'the CLI tarball alone (with core’s, which is not on the registry yet): npm satisfies ^0.1.0 with it',
    async () => {
      const dir = join(scratch, 'cli-only')
      await mkdir(dir)
      await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: 'cli-only', version: '0.0.0', private: true, type: 'module' }, null, 2)}\n`)
      await ok(
        'npm install (cli + core tarballs)',
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarballs.cli.file, tarballs.core.file],
        {
          cwd: dir,
        },
      )
      const locked = await lockedPackages(dir)
      expect(Object.keys(locked).sort()).toEqual(['node_modules/@images-edit/core', 'node_modules/images-edit'])
      expect(locked['node_modules/@images-edit/core']?.resolved).toMatch(/^file:.*images-edit-core-.*\.tgz$/)
      expect(existsSync(join(dir, 'node_modules/vite')), 'the CLI pulls in no Vite').toBe(false)

      const version = await ok('images-edit --version (cli alone)', 'npx', npx('images-edit', '--version'), { cwd: dir })
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
      // The quick start the CLI itself prints: init, add the reference it names, build offline.
      await ok('images-edit init (cli alone)', 'npx', npx('images-edit', 'init'), { cwd: dir })
      await mkdir(join(dir, 'refs'))
      await writeFile(join(dir, 'refs/example.png'), await makeImage({ width: 64, height: 48 }))
      await ok('images-edit validate (cli alone)', 'npx', npx('images-edit', 'validate'), { cwd: dir })
      await ok('images-edit build --provider local (cli alone)', 'npx', npx('images-edit', 'build', '--provider', 'local', '--no-frozen'), { cwd: dir })
      expect(existsSync(join(dir, 'generated/example.png')), 'generated/example.png').toBe(true)
    },
    4 * MINUTE,
  )
})
