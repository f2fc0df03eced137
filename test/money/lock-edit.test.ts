/**
 * A hand-edited lock is never overwritten without --force-lock (issue 9, point 20) — also when the
 * edit is well-formed: a wrong sha256, an entry added, an entry removed. Legitimate changes of the
 * lock (a fresh clone, a checkout of an older lock with its outputs, CRLF line endings) are not
 * edits: their entries verify against the outputs on disk or the store.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type LockFile, readLock, serializeLock } from '@images-edit/core'
import { describe, type ExpectStatic, it } from 'vitest'
import { makeImage, runCli, STACK_LINE, sha256File, tempDir, writeFiles } from '../helpers.js'

const manifest = (recipes: Record<string, string>) =>
  `version: 1\nout: out\ndefaults:\n  provider: local\nrecipes:\n${Object.entries(recipes)
    .map(([id, prompt]) => `  ${id}:\n    prompt: ${prompt}\n    refs: [refs/a.png]\n`)
    .join('')}`

async function built(cleanups: (() => Promise<void>)[], recipes: Record<string, string> = { one: 'lock one', two: 'lock two' }): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-lockedit-')
  cleanups.push(cleanup)
  await writeFiles(dir, { 'refs/a.png': await makeImage(), 'images.edit.yaml': manifest(recipes) })
  const first = await runCli(['build'], { cwd: dir })
  if (first.code !== 0) throw new Error(first.stdout + first.stderr)
  return dir
}

/** Rewrites the lock in images-edit's own format, so only its content differs. */
async function editLock(dir: string, edit: (lock: LockFile) => void): Promise<string> {
  const path = join(dir, 'images.edit.lock')
  const lock = await readLock(path)
  edit(lock)
  const text = serializeLock(lock)
  await writeFile(path, text)
  return text
}

async function expectRefused(dir: string, text: string, expect: ExpectStatic): Promise<void> {
  const refused = await runCli(['build'], { cwd: dir })
  expect(refused.code, refused.stdout + refused.stderr).toBe(2)
  expect(refused.stderr).toMatch(/edited by hand/)
  expect(refused.stderr).toMatch(/--force-lock/)
  expect(refused.stderr).not.toMatch(STACK_LINE)
  expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).toBe(text)
  const forced = await runCli(['build', '--force-lock'], { cwd: dir })
  expect(forced.code, forced.stdout + forced.stderr).toBe(0)
  expect(await readFile(join(dir, 'images.edit.lock'), 'utf8')).not.toBe(text)
  // What --force-lock wrote is images-edit's own again: no more refusals.
  expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
}

describe.concurrent('a well-formed hand edit of the lock is detected', () => {
  it('a wrong sha256 for an output (fabricated, or another real file’s): refused, lock kept; --force-lock rewrites it', async ({ expect, onTestFinished }) => {
    const cleanups: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup()
    })
    const dir = await built(cleanups)
    const text = await editLock(dir, (lock) => {
      const output = lock.jobs.one?.outputs[0]
      if (output) output.sha256 = 'f'.repeat(64)
    })
    await expectRefused(dir, text, expect)
    const ref = await sha256File(join(dir, 'refs/a.png'))
    const again = await editLock(dir, (lock) => {
      const output = lock.jobs.two?.outputs[0]
      if (output) output.sha256 = ref
    })
    await expectRefused(dir, again, expect)
  })

  it('an entry added by hand (no such recipe, or a copy under another name): refused', async ({ expect, onTestFinished }) => {
    const cleanups: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup()
    })
    const dir = await built(cleanups)
    const text = await editLock(dir, (lock) => {
      const one = lock.jobs.one
      if (one) lock.jobs.three = { ...one, key: 'a'.repeat(64), recipe: 'three', outputs: one.outputs.map((output) => ({ ...output, path: 'out/three.png' })) }
    })
    await expectRefused(dir, text, expect)
  })

  it('an entry removed by hand while its output is still on disk: refused', async ({ expect, onTestFinished }) => {
    const cleanups: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup()
    })
    const dir = await built(cleanups)
    const text = await editLock(dir, (lock) => {
      delete lock.jobs.two
    })
    await expectRefused(dir, text, expect)
  })
})

describe.concurrent('legitimate changes of the lock are not edits', () => {
  it('a fresh clone (no .images-edit), an older lock checked out with its outputs, CRLF endings: built, no refusal', async ({ expect, onTestFinished }) => {
    const cleanups: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup()
    })
    const dir = await built(cleanups, { one: 'first prompt' })
    const saved = join(dir, '..', `${dir.split('/').pop()}-saved`)
    cleanups.push(() => rm(saved, { recursive: true, force: true }))
    await cp(join(dir, 'out'), join(saved, 'out'), { recursive: true })
    await cp(join(dir, 'images.edit.lock'), join(saved, 'images.edit.lock'))
    await cp(join(dir, 'images.edit.yaml'), join(saved, 'images.edit.yaml'))

    // Another commit: a new prompt, built.
    await writeFile(join(dir, 'images.edit.yaml'), manifest({ one: 'second prompt', two: 'added later' }))
    expect((await runCli(['build'], { cwd: dir })).code).toBe(0)
    // `git checkout` of the first commit: lock, outputs and manifest as they were.
    await rm(join(dir, 'out'), { recursive: true })
    await cp(join(saved, 'out'), join(dir, 'out'), { recursive: true })
    await cp(join(saved, 'images.edit.lock'), join(dir, 'images.edit.lock'))
    await cp(join(saved, 'images.edit.yaml'), join(dir, 'images.edit.yaml'))
    const checkedOut = await runCli(['build'], { cwd: dir })
    expect(checkedOut.code, checkedOut.stdout + checkedOut.stderr).toBe(0)
    expect(checkedOut.stdout).toMatch(/0 generated/)

    // A fresh clone: the store is gone, lock and outputs are there.
    await rm(join(dir, '.images-edit'), { recursive: true })
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    await writeFile(join(dir, 'images.edit.lock'), lock.replace(/\n/g, '\r\n'))
    const clone = await runCli(['build'], { cwd: dir })
    expect(clone.code, clone.stdout + clone.stderr).toBe(0)
    expect(clone.stdout).toMatch(/0 generated/)
  })
})
