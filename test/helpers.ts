import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { parse as parseYaml } from 'yaml'

/** Repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
/** The real CLI entry point (built by `npm ci` / `tsc -b`). */
export const cliBin = join(repoRoot, 'packages/cli/bin/images-edit.js')

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'images-edit-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  // Retried: a server closed a moment ago (Vite's dependency optimizer) may still be writing into it.
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) }
}

/** Writes files (text or bytes) under `dir`, creating folders. */
export async function writeFiles(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), content)
  }
}

/** Options for {@link makeImage}. */
export interface ImageSpec {
  width?: number
  height?: number
  format?: 'png' | 'jpeg' | 'webp'
  /** RGB colour, or RGBA with alpha 0..1. */
  color?: { r: number; g: number; b: number; alpha?: number }
  /** PNG with an alpha channel. */
  alpha?: boolean
}

/** A real image made with sharp. */
export async function makeImage(spec: ImageSpec = {}): Promise<Buffer> {
  const { width = 64, height = 48, format = 'png', alpha = false } = spec
  const color = spec.color ?? { r: 200, g: 80, b: 40 }
  const image = sharp({
    create: { width, height, channels: alpha ? 4 : 3, background: alpha ? { ...color, alpha: color.alpha ?? 1 } : color },
  })
  if (format === 'jpeg') return image.jpeg().toBuffer()
  if (format === 'webp') return image.webp().toBuffer()
  return image.png().toBuffer()
}

/** A mask PNG: transparent left half (repaint), opaque right half (keep). */
export async function makeMask(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 4)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const offset = (y * width + x) * 4
      pixels[offset + 3] = x < width / 2 ? 0 : 255
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer()
}

/** Every variable that makes core's `isCI` true: removed so tests decide frozen mode explicitly. */
export const CI_VARIABLES = ['CI', 'JENKINS_URL', 'TEAMCITY_VERSION', 'TF_BUILD', 'CODEBUILD_BUILD_ID'] as const

/** Result of running the CLI. */
export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the real CLI binary. The environment is scrubbed of CI and colour variables unless given,
 * so tests decide frozen mode explicitly.
 */
export function runCli(args: string[], options: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  for (const name of CI_VARIABLES) delete env[name]
  delete env.FORCE_COLOR
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cliBin, ...args],
      { cwd: options.cwd, env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`images-edit ${args.join(' ')} did not finish: ${error.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`))
          return
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr })
      },
    )
  })
}

/** Starts the CLI without waiting, for tests that kill it part-way. */
export function spawnCli(args: string[], options: { cwd: string; env?: Record<string, string | undefined> }) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  for (const name of CI_VARIABLES) delete env[name]
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return spawn(process.execPath, [cliBin, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

// ---------------------------------------------------------------------------------------------
// End-to-end helpers (added for the CLI suites; the helpers above keep their signatures).

/** An ANSI escape sequence (colour, cursor movement). */
export const ANSI = /\u001b\[/
/** A line of a JavaScript stack trace. */
export const STACK_LINE = /^\s+at\s+\S/m

/** Width, height and format of an image file, read with sharp. */
export async function imageInfo(path: string): Promise<{ width: number; height: number; format: string }> {
  const meta = await sharp(path).metadata()
  return { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? 'unknown' }
}

/** sha256 (hex) of a file's bytes. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

/** Every file under `dir`, as sorted paths relative to it with `/` separators; empty when `dir` does not exist. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort()
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** The parts of `images.edit.lock` the tests look at. */
export interface LockShape {
  lockfileVersion: number
  jobs: Record<
    string,
    {
      key: string
      recipe: string
      take: number
      params: Record<string, unknown>
      refs: { path?: string; sha256?: string }[]
      outputs: { path: string; sha256: string; width: number; height: number; format: string }[]
    }
  >
}

/** Reads and parses `images.edit.lock` in `dir`. */
export async function readLockFile(dir: string): Promise<LockShape> {
  return parseYaml(await readFile(join(dir, 'images.edit.lock'), 'utf8')) as LockShape
}

/** One event of `build --json`. */
export interface JsonEvent {
  type: string
  id?: string
  [field: string]: unknown
}

/** Parses `--json` output: every non-empty line must be one JSON object with a string `type`. Throws otherwise. */
export function parseJsonLines(stdout: string): JsonEvent[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const value = JSON.parse(line) as unknown
      if (!value || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
        throw new Error(`not a JSON event: ${line}`)
      }
      return value as JsonEvent
    })
}

/** Ids of the events of one type. */
export function idsOf(events: readonly JsonEvent[], type: string): string[] {
  return events
    .filter((event) => event.type === type)
    .map((event) => String(event.id))
    .sort()
}

/** A CLI process started with {@link spawnCli}, its output collected as it arrives. */
export interface RunningCli {
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when the process has exited and its streams are closed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once stdout matches `pattern`; rejects when the process exits first or after `timeoutMs`. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<void>
  kill(signal: NodeJS.Signals): void
  /** Closes our end of the stdout pipe, as `| head -1` does: the process's next writes fail with EPIPE. */
  closeStdout(): void
}

/** Starts the CLI and collects its output; see {@link RunningCli}. */
export function startCli(args: string[], options: { cwd: string; env?: Record<string, string | undefined> }): RunningCli {
  const child = spawnCli(args, options)
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    for (const check of waiters) check()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk
  })
  let done = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      done = true
      for (const check of waiters) check()
      resolve({ code, signal })
    })
  })
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal) => {
      child.kill(signal)
    },
    closeStdout: () => {
      child.stdout.destroy()
    },
    waitForStdout(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${pattern} on stdout:\n${out}\nstderr:\n${err}`))
        }, timeoutMs)
        const check = () => {
          if (pattern.test(out)) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          } else if (done) {
            clearTimeout(timer)
            waiters.delete(check)
            reject(new Error(`the process exited before stdout matched ${pattern}:\n${out}\nstderr:\n${err}`))
          }
        }
        waiters.add(check)
        check()
      })
    },
  }
}

/** Writes images made by {@link makeImage} under `dir`. */
export async function writeImages(dir: string, images: Record<string, ImageSpec>): Promise<void> {
  for (const [path, spec] of Object.entries(images)) await writeFiles(dir, { [path]: await makeImage(spec) })
}
