// Projects for the runner benchmarks (B5–B7, B11): many jobs, each with one small unique ref, so
// what is measured is the runner and the protocol, not image work.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { pool } from '../lib.mjs'

export const refName = (index) => `refs/r${String(index).padStart(4, '0')}.png`
export const jobName = (index) => `j${String(index).padStart(4, '0')}`
export const promptOf = (index) => `bench job ${String(index).padStart(4, '0')}`

/** A 64×48 PNG whose colour encodes `index` (and `variant`), so every file has distinct bytes. */
export function smallPng(index, variant = 0) {
  const background = { r: index % 256, g: (index >> 8) % 256, b: (variant * 53) % 256 }
  return sharp({ create: { width: 64, height: 48, channels: 3, background } })
    .png()
    .toBuffer()
}

/**
 * Writes `jobs` recipes (`j0000` … with prompt `bench job 0000`), one unique 64×48 ref each, all
 * at 1k 1:1 PNG on `provider`, under a global cap of `concurrency` and the same per-provider cap.
 * @param {string} dir
 * @param {{ jobs: number, provider: 'aa' | 'openai' | 'toapis' | 'local', concurrency: number, providerSettings?: Record<string, number> }} shape
 */
export async function writeJobsProject(dir, shape) {
  await mkdir(join(dir, 'refs'), { recursive: true })
  const indexes = Array.from({ length: shape.jobs }, (_, index) => index)
  await pool(indexes, 8, async (index) => writeFile(join(dir, refName(index)), await smallPng(index)))
  const settings = { concurrency: shape.concurrency, ...shape.providerSettings }
  const lines = [
    'version: 1',
    'out: generated',
    `concurrency: ${shape.concurrency}`,
    `defaults: { provider: ${shape.provider}, ratio: "1:1", resolution: 1k, format: png, quality: low }`,
    ...(shape.provider === 'local'
      ? []
      : [
          'providers:',
          `  ${shape.provider}: { ${Object.entries(settings)
            .map(([key, value]) => `${key}: ${value}`)
            .join(', ')} }`,
        ]),
    'recipes:',
  ]
  for (const index of indexes) lines.push(`  ${jobName(index)}:`, `    prompt: ${promptOf(index)}`, `    refs: [${refName(index)}]`)
  await writeFile(join(dir, 'images.edit.yaml'), `${lines.join('\n')}\n`)
}

/** Forgets every result (store, lock, outputs) so the next build really generates every job. */
export async function resetProject(dir) {
  await Promise.all(['.images-edit', 'images.edit.lock', 'generated'].map((name) => rm(join(dir, name), { recursive: true, force: true })))
}
