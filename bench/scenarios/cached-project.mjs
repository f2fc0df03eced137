// Builds a large project whose every job is already up to date (lock + outputs, as on a fresh
// clone), without generating anything: refs are valid PNGs padded to an exact size with unique
// bytes, outputs are small unique files recorded in the lock.
import { mkdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { pool } from '../lib.mjs'

const core = await import('@images-edit/core')

/** A noise PNG no larger than `bytes`, as a base for padded refs. */
async function basePng(bytes) {
  let side = Math.max(16, Math.floor(Math.sqrt(bytes / 3.2)))
  for (;;) {
    const png = await sharp({ create: { width: side, height: side, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .png({ compressionLevel: 1 })
      .toBuffer()
    if (png.length <= bytes - 64) return png
    side = Math.floor(side * 0.9)
  }
}

/**
 * @param {string} dir
 * @param {{ files: number, fileBytes: number, recipes: number, refsPerRecipe: number }} shape
 */
export async function createCachedProject(dir, shape) {
  const base = await basePng(shape.fileBytes)
  const refPaths = []
  await mkdir(join(dir, 'refs'), { recursive: true })
  const indexes = Array.from({ length: shape.files }, (_, index) => index)
  await pool(indexes, 16, async (index) => {
    const bytes = Buffer.alloc(shape.fileBytes)
    base.copy(bytes)
    // Unique, incompressible-enough padding after IEND: every file has distinct bytes.
    bytes.writeUInt32BE(index, base.length)
    for (let offset = base.length + 4; offset + 4 <= bytes.length; offset += 4) bytes.writeUInt32BE((index * 2654435761 + offset) >>> 0, offset)
    const name = `refs/r${String(index).padStart(6, '0')}.png`
    await writeFile(join(dir, name), bytes)
  })
  for (const index of indexes) refPaths.push(join(dir, `refs/r${String(index).padStart(6, '0')}.png`))

  const lines = ['version: 1', 'defaults: { provider: local, ratio: "1:1", resolution: 1k }', 'recipes:']
  const usersOf = new Map()
  for (let recipe = 0; recipe < shape.recipes; recipe++) {
    const refs = []
    for (let k = 0; k < shape.refsPerRecipe; k++) {
      const file = (recipe * shape.refsPerRecipe + k) % shape.files
      refs.push(`refs/r${String(file).padStart(6, '0')}.png`)
      const users = usersOf.get(file) ?? []
      users.push(`c${String(recipe).padStart(6, '0')}`)
      usersOf.set(file, users)
    }
    lines.push(`  c${String(recipe).padStart(6, '0')}:`, `    prompt: variant ${recipe}`, `    refs: [${refs.join(', ')}]`)
  }
  await writeFile(join(dir, 'images.edit.yaml'), `${lines.join('\n')}\n`)

  const loaded = await core.loadManifest(join(dir, 'images.edit.yaml'), { fileIndex: new core.FileIndex(dir, undefined) })
  const errors = loaded.diagnostics.filter((item) => item.severity === 'error')
  if (errors.length > 0) throw new Error(`bench manifest invalid: ${errors[0].message}`)
  const lock = { lockfileVersion: 1, jobs: {} }
  await mkdir(join(dir, 'generated'), { recursive: true })
  const outputs = []
  for (const job of loaded.jobs) {
    const bytes = Buffer.from(`output of ${job.id} ${job.key}`)
    const path = job.outputs[0]
    await writeFile(join(dir, path), bytes)
    outputs.push(join(dir, path))
    lock.jobs[job.id] = {
      key: job.key,
      recipe: job.recipe,
      provider: job.provider,
      model: job.model,
      take: 1,
      prompt: job.prompt,
      params: job.params,
      refs: job.refs.map((ref) => ({ path: ref.path, sha256: ref.input.sha256 })),
      outputs: [{ path, sha256: core.sha256(bytes), width: 1024, height: 1024, format: 'png' }],
    }
  }
  await core.writeLock(join(dir, 'images.edit.lock'), lock)
  // Old enough that no stat-cache entry is "racily clean".
  const past = new Date(Date.now() - 3_600_000)
  await pool([...refPaths, ...outputs, join(dir, 'images.edit.yaml'), join(dir, 'images.edit.lock')], 32, (path) => utimes(path, past, past))
  // ctime cannot be set back: past the racy window, a no-op build may remember its plan (as on any
  // project whose files were not written in the last two seconds).
  await new Promise((resolve) => setTimeout(resolve, 2_100))
  return { refPaths, outputs, usersOf }
}
