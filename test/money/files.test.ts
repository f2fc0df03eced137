/**
 * Files that are not what they seem, and a disk that says no (issue 9, points 11, 15, 18, 21):
 * bounded reads of regular files only; refs checked (header pixel limit at validation, a full
 * decode before anything is paid); ordinary file-system errors said plainly with the path and the
 * fix, never "internal error"; a lock write that fails after the paid result was stored keeps it,
 * and the rerun is free.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { describe, it } from 'vitest'
import { exists, listFiles, makeImage, readLockFile, runCli, STACK_LINE, tempDir, writeFiles } from '../helpers.js'
import { Resources, readRecords, requestsOn, serverEnv } from '../providers/harness.js'

const PRELOAD = join(import.meta.dirname, 'fs-faults.mjs')
/** Environment that makes matching file-system writes fail with `code` (see fs-faults.mjs). */
const fault = (code: string, pattern: string) => ({ NODE_OPTIONS: `--import=${PRELOAD}`, IMAGES_EDIT_TEST_FS_FAULT: `${code}:${pattern}` })

const local = (body = '  hero:\n    prompt: files hero\n    refs: [refs/a.png]\n') => `version: 1\nout: out\ndefaults:\n  provider: local\nrecipes:\n${body}`

async function localProject(resources: Resources): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-files-')
  resources.add(cleanup)
  await writeFiles(dir, { 'refs/a.png': await makeImage(), 'images.edit.yaml': local() })
  return dir
}

/** A noisy PNG (so it has many data bytes), whole. */
async function noisyPng(width = 300, height = 200): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3)
  for (let index = 0; index < pixels.length; index++) pixels[index] = (index * 7919) % 251
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer()
}

/** A PNG whose header says `width`×`height`, followed by a few bytes of nothing. */
function hugeHeaderPng(width: number, height: number): Buffer {
  const png = Buffer.alloc(8 + 25 + 12)
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(png, 0)
  png.writeUInt32BE(13, 8)
  png.write('IHDR', 12, 'latin1')
  png.writeUInt32BE(width, 16)
  png.writeUInt32BE(height, 20)
  png[24] = 8
  png[25] = 6
  png.writeUInt32BE(0, 37)
  png.write('IDAT', 37, 'latin1')
  return png
}

describe.concurrent('bounded reads: only regular files, under a cap, with the file named', () => {
  it('the manifest a symlink to /dev/zero, a FIFO, or a huge file: every command answers at once naming it, exit non-zero', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const dir = await localProject(resources)
    await rm(join(dir, 'images.edit.yaml'))
    await symlink('/dev/zero', join(dir, 'images.edit.yaml'))
    for (const command of [['validate'], ['build'], ['status']]) {
      const result = await runCli(command, { cwd: dir, timeoutMs: 60_000 })
      expect(result.code, command.join(' ')).not.toBe(0)
      expect(result.stderr).toMatch(/images\.edit\.yaml is not a regular file \(a device\)/)
      expect(result.stderr).not.toMatch(STACK_LINE)
    }
    await rm(join(dir, 'images.edit.yaml'))
    execFileSync('mkfifo', [join(dir, 'images.edit.yaml')])
    const fifo = await runCli(['validate'], { cwd: dir, timeoutMs: 60_000 })
    expect(fifo.stderr).toMatch(/not a regular file \(a named pipe\)/)
    await rm(join(dir, 'images.edit.yaml'))
    await writeFile(join(dir, 'images.edit.yaml'), local())
    await truncate(join(dir, 'images.edit.yaml'), 64 * 1024 * 1024)
    const huge = await runCli(['validate'], { cwd: dir, timeoutMs: 60_000 })
    expect(huge.code).not.toBe(0)
    expect(huge.stderr).toMatch(/images\.edit\.yaml:1:1: error: the manifest is larger than 8388608 bytes \(8 MiB\)/)
  })

  it('the lock a symlink to /dev/zero: build and status refuse it naming the lock, the link is left alone', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const dir = await localProject(resources)
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    await rm(join(dir, 'images.edit.lock'))
    await symlink('/dev/zero', join(dir, 'images.edit.lock'))
    for (const command of [['build'], ['status'], ['build', '--force-lock']]) {
      const result = await runCli(command, { cwd: dir, timeoutMs: 60_000 })
      expect(result.code, command.join(' ')).toBe(1)
      expect(result.stderr).toMatch(/images\.edit\.lock is not a regular file/)
      expect(result.stderr).not.toMatch(STACK_LINE)
    }
  })

  it('`.env` a symlink to /dev/zero: the build stops naming .env before any request (it used to be ignored silently)', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server()
    const dir = await resources.project({ provider: 'toapis', recipes: { hero: { prompt: 'env hero', refs: ['refs/a.png'] } } })
    await symlink('/dev/zero', join(dir, '.env'))
    const result = await runCli(['build'], { cwd: dir, env: serverEnv(server), timeoutMs: 60_000 })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/\.env is not a regular file/)
    expect(server.requests).toEqual([])
  })
})

describe.concurrent('refs are checked before anything is paid', () => {
  it('a ref whose header claims 100000×100000: validate fails located at the ref; build sends nothing', async ({ expect, onTestFinished }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server()
    const dir = await resources.project({ provider: 'toapis', recipes: { hero: { prompt: 'huge', refs: ['refs/a.png', 'refs/huge.png'] } } })
    await writeFile(join(dir, 'refs/huge.png'), hugeHeaderPng(100_000, 100_000))
    const validate = await runCli(['validate', '--json'], { cwd: dir })
    expect(validate.code).toBe(2)
    const diagnostics = (JSON.parse(validate.stdout) as { diagnostics: { rule: string; message: string }[] }).diagnostics
    expect(diagnostics.map((item) => item.rule)).toEqual(['ref/too-many-pixels'])
    expect(diagnostics[0]?.message).toMatch(/refs\/huge\.png claims to be 100000×100000/)
    const build = await runCli(['build'], { cwd: dir, env: serverEnv(server) })
    expect(build.code).toBe(2)
    expect(server.requests).toEqual([])
  })

  it('a truncated PNG ref (sound header) or mask: build fails located, before any upload or submit; once fixed, one submit', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server()
    const dir = await resources.project({
      provider: 'toapis',
      recipes: { hero: { prompt: 'truncated', refs: ['refs/a.png', 'refs/cut.png'] }, fan: { prompt: 'fan', refs: ['refs/cut.png'] } },
    })
    const whole = await noisyPng()
    await writeFile(join(dir, 'refs/cut.png'), whole.subarray(0, Math.floor(whole.length / 2)))
    expect((await runCli(['validate'], { cwd: dir })).code).toBe(0)
    const build = await runCli(['build'], { cwd: dir, env: serverEnv(server) })
    expect(build.code, build.stdout + build.stderr).toBe(2)
    expect(build.stderr).toMatch(/images\.edit\.yaml:\d+:\d+.*refs\/cut\.png cannot be decoded/)
    expect(build.stderr).not.toMatch(STACK_LINE)
    expect(requestsOn(server, 'toapis.upload')).toEqual([])
    expect(server.submits()).toBe(0)

    await writeFile(join(dir, 'refs/cut.png'), whole)
    const fixed = await runCli(['build'], { cwd: dir, env: serverEnv(server) })
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0)
    expect(server.submits()).toBe(2)
    // A decoded ref is remembered: the next run decodes nothing (and pays nothing).
    const statCache = JSON.parse(await readFile(join(dir, '.images-edit', 'stat-cache.json'), 'utf8')) as { entries: Record<string, { decoded?: string }> }
    expect(statCache.entries['refs/cut.png']?.decoded).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe.concurrent('ordinary file-system errors are said plainly: the path, what was being done, the fix', () => {
  it('the lock cannot be written after the paid result was stored (read-only project folder): plain error, result kept, the rerun finishes for free', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const server = await resources.server()
    const dir = await resources.project({ provider: 'toapis', recipes: { hero: { prompt: 'lock write', refs: ['refs/a.png'] } } })
    const env = serverEnv(server)
    const failed = await runCli(['build'], { cwd: dir, env: { ...env, ...fault('EROFS', 'images\\.edit\\.lock') } })
    expect(failed.code, failed.stdout + failed.stderr).toBe(1)
    expect(failed.stderr).not.toMatch(/internal error/)
    expect(failed.stderr).not.toMatch(STACK_LINE)
    expect(failed.stderr).toMatch(/writing .*images\.edit\.lock failed: the file system is read-only \[EROFS\]/)
    expect(failed.stderr).toMatch(/kept in the store.*rerun `images-edit build`.*no cost/)
    expect(server.submits()).toBe(1)
    expect((await readRecords(dir)).map((record) => record.takes.length)).toEqual([1])
    expect(await exists(join(dir, 'images.edit.lock'))).toBe(false)

    const rerun = await runCli(['build'], { cwd: dir, env })
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0)
    expect(server.submits()).toBe(1)
    expect(Object.keys((await readLockFile(dir)).jobs)).toEqual(['hero'])
  })

  it('a full disk while writing an output, and a store folder that is a file (ENOTDIR, real for root too): exit 1, no "internal error", no stack', async ({
    expect,
    onTestFinished,
  }) => {
    const resources = new Resources()
    onTestFinished(() => resources.release())
    const dir = await localProject(resources)
    const full = await runCli(['build'], { cwd: dir, env: fault('ENOSPC', '/out/') })
    expect(full.code, full.stdout + full.stderr).toBe(1)
    const fullText = full.stdout + full.stderr
    expect(fullText).not.toMatch(/internal error/)
    expect(fullText).not.toMatch(STACK_LINE)
    expect(fullText).toMatch(/out\/hero\.png.*the disk is full \[ENOSPC\]\. Free some disk space/)
    expect(await listFiles(join(dir, 'out'))).toEqual([])
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)

    const other = await localProject(resources)
    await mkdir(join(other, '.images-edit'), { recursive: true })
    await writeFile(join(other, '.images-edit', 'objects'), 'not a folder\n')
    const blocked = await runCli(['build'], { cwd: other })
    const text = blocked.stdout + blocked.stderr
    expect(blocked.code, text).toBe(1)
    expect(text).not.toMatch(/internal error/)
    expect(text).not.toMatch(STACK_LINE)
    expect(text).toMatch(/\.images-edit\/objects.*\[ENOTDIR\]\. Rename or remove the file that is in the way/)

    // The store a read-only file system: every command that writes says so plainly.
    const readOnly = await runCli(['build', '--force', 'hero'], { cwd: dir, env: fault('EROFS', '\\.images-edit') })
    expect(readOnly.code).toBe(1)
    expect(readOnly.stdout + readOnly.stderr).not.toMatch(/internal error|^\s+at\s/m)
    expect(readOnly.stdout + readOnly.stderr).toMatch(/\.images-edit.*read-only \[EROFS\]/)
  })
})
