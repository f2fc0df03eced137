import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, tempDir } from '../../../../test/helpers.js'
import { FileIndex } from '../hash/file-index.js'
import { loadManifest } from './load-manifest.js'

let outside: string
let project: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  const made = await tempDir()
  cleanup = made.cleanup
  outside = join(made.dir, 'outside')
  project = join(made.dir, 'project')
  await mkdir(join(project, 'refs'), { recursive: true })
  await mkdir(outside, { recursive: true })
  const image = await makeImage()
  await writeFile(join(outside, 'secret.png'), image)
  await writeFile(join(project, 'refs', 'ok.png'), image)
  await symlink(join(outside, 'secret.png'), join(project, 'refs', 'link.png'))
  await symlink(outside, join(project, 'refs', 'linked-folder'))
})
afterAll(() => cleanup())

async function load(body: string, security = '') {
  await writeFile(join(project, 'images.edit.yaml'), `version: 1\n${security}defaults: { provider: local }\nrecipes:\n${body}`)
  return loadManifest(join(project, 'images.edit.yaml'), { fileIndex: new FileIndex(project, undefined) })
}

const errors = (loaded: Awaited<ReturnType<typeof load>>) =>
  loaded.diagnostics.filter((item) => item.severity === 'error').map((item) => [item.rule, item.line, item.column])

describe('paths stay inside the project', () => {
  it('refuses .., absolute paths and symlinks that lead out, each located', async () => {
    const loaded = await load(
      `  up:\n    prompt: p\n    refs: [../outside/secret.png]\n  abs:\n    prompt: p\n    refs: [${join(outside, 'secret.png')}]\n  link:\n    prompt: p\n    refs: [refs/ok.png]\n    mask: refs/link.png\n`,
    )
    expect(errors(loaded)).toEqual([
      ['ref/outside-project', 6, 12],
      ['ref/outside-project', 9, 12],
      ['mask/outside-project', 13, 11],
    ])
    expect(loaded.jobs).toEqual([])
    const message = loaded.diagnostics.find((item) => item.line === 13)?.message
    expect(message).toContain('a link to')
  })

  it('does not follow symlinked folders in each globs, and refuses globs that climb out', async () => {
    const linked = await load(`  fan:\n    each: refs/**/*.png\n    prompt: p\n    refs: ["{file}"]\n`)
    expect(linked.jobs.map((job) => job.id)).toEqual(['fan/ok.png'])
    const climbing = await load(`  fan:\n    each: ../outside/*.png\n    prompt: p\n    refs: ["{file}"]\n`)
    expect(errors(climbing).map(([rule]) => rule)).toEqual(['ref/outside-project'])
  })

  it('refuses an out folder outside the project', async () => {
    const loaded = await load(`  a:\n    prompt: p\n    refs: [refs/ok.png]\n`, 'out: ../elsewhere\n')
    expect(errors(loaded)).toEqual([['out/outside-project', 2, 6]])
  })

  it('allows all of it with security.allowOutsideProject', async () => {
    const loaded = await load(
      `  up:\n    prompt: p\n    refs: [../outside/secret.png]\n  link:\n    prompt: p\n    refs: [refs/link.png]\n`,
      'out: ../elsewhere\nsecurity: { allowOutsideProject: true }\n',
    )
    expect(errors(loaded)).toEqual([])
    expect(loaded.jobs.map((job) => job.id)).toEqual(['link', 'up'])
  })

  it('takes http URLs only on loopback and only when allowed', async () => {
    const body = `  a:\n    prompt: p\n    refs: ["http://127.0.0.1:9/x.png"]\n  b:\n    prompt: p\n    refs: ["http://example.com/x.png"]\n`
    expect(errors(await load(body)).map(([rule]) => rule)).toEqual(['ref/url', 'ref/url'])
    const allowed = await load(body, 'security: { allowLoopbackHttp: true }\n')
    expect(errors(allowed)).toEqual([['ref/url', 10, 12]])
    expect(allowed.jobs.map((job) => job.id)).toEqual(['a'])
  })
})
