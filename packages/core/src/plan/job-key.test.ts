import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { FileIndex } from '../hash/file-index.js'
import type { Job } from '../manifest/job.js'
import { loadManifest } from '../manifest/load-manifest.js'
import { canonicalKeyJson, computeJobKey, type KeyMaterial, keyJson } from './job-key.js'

const material: KeyMaterial = {
  provider: 'toapis',
  model: 'gpt-image-1.5-official',
  prompt: 'a poster',
  params: { ratio: '1:1', resolution: '1k', quality: 'high', format: 'png' },
  refs: ['a'.repeat(64)],
}

describe('computeJobKey', () => {
  it('is a stable sha256 independent of property order', () => {
    const reordered: KeyMaterial = {
      refs: material.refs,
      params: { format: 'png', quality: 'high', resolution: '1k', ratio: '1:1' },
      prompt: 'a poster',
      model: material.model,
      provider: 'toapis',
    }
    expect(computeJobKey(material)).toMatch(/^[0-9a-f]{64}$/)
    expect(computeJobKey(reordered)).toBe(computeJobKey(material))
  })

  it('changes with every parameter, the prompt, provider, model, refs order, mask and seed', () => {
    const base = computeJobKey(material)
    const variants: KeyMaterial[] = [
      { ...material, provider: 'openai' },
      { ...material, model: 'gpt-image-2' },
      { ...material, prompt: 'a poster!' },
      { ...material, params: { ...material.params, ratio: '16:9' } },
      { ...material, params: { ...material.params, resolution: '2k' } },
      { ...material, params: { ...material.params, quality: 'low' } },
      { ...material, params: { ...material.params, format: 'jpeg' } },
      { ...material, params: { ...material.params, compression: 80 } },
      { ...material, params: { ...material.params, background: 'opaque' } },
      { ...material, refs: ['b'.repeat(64)] },
      { ...material, refs: ['a'.repeat(64), 'b'.repeat(64)] },
      { ...material, mask: 'c'.repeat(64) },
      { ...material, seed: 1 },
      { ...material, seed: '1' },
    ]
    const keys = variants.map(computeJobKey)
    for (const key of keys) expect(key).not.toBe(base)
    expect(new Set(keys).size).toBe(keys.length)
    expect(computeJobKey({ ...material, refs: ['b'.repeat(64), 'a'.repeat(64)] })).not.toBe(
      computeJobKey({ ...material, refs: ['a'.repeat(64), 'b'.repeat(64)] }),
    )
  })
})

describe('keyJson', () => {
  it('is byte-for-byte the generic canonical JSON, for every shape of material', () => {
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
    for (let index = 0; index < 500; index++) {
      const material: KeyMaterial = {
        provider: pick(['toapis', 'aa', 'openai', 'local'] as const),
        model: pick(['m', 'gpt-image-1.5', 'ü "quoted" \\ model']),
        prompt: pick(['', 'plain', 'line\nbreak', 'emoji 🎨 and "quotes"', '\u0000 control']),
        params: {
          ratio: pick(['1:1', '16:9', 'auto'] as const),
          resolution: pick(['1k', '2k', '4k'] as const),
          quality: pick(['low', 'high', 'auto'] as const),
          format: pick(['png', 'jpeg', 'webp'] as const),
          ...(random() < 0.5 ? { compression: Math.floor(random() * 101) } : {}),
          ...(random() < 0.5 ? { background: pick(['transparent', 'opaque', 'auto'] as const) } : {}),
          ...(random() < 0.5 ? { inputFidelity: pick(['high', 'low'] as const) } : {}),
          ...(random() < 0.5 ? { moderation: pick(['low', 'auto'] as const) } : {}),
        },
        refs: Array.from({ length: 1 + Math.floor(random() * 16) }, (_, i) =>
          random() < 0.8 ? String(i).repeat(64).slice(0, 64) : `url:https://x.test/${i}?q="a"`,
        ),
        ...(random() < 0.5 ? { mask: 'c'.repeat(64) } : {}),
        ...(random() < 0.3 ? { seed: random() < 0.5 ? Math.floor(random() * 1000) : 'take-2' } : {}),
      }
      expect(keyJson(material)).toBe(canonicalKeyJson(material))
    }
  })
})

describe('job keys of a manifest', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function keysOf(dir: string, manifest: string, env: Record<string, string> = {}): Promise<Map<string, Job>> {
    await writeFiles(dir, { 'images.edit.yaml': manifest })
    const saved = { ...process.env }
    Object.assign(process.env, env)
    try {
      const loaded = await loadManifest(join(dir, 'images.edit.yaml'), { fileIndex: new FileIndex(dir, undefined) })
      expect(loaded.diagnostics.filter((item) => item.severity === 'error')).toEqual([])
      return new Map(loaded.jobs.map((job) => [job.id, job]))
    } finally {
      process.env = saved
    }
  }

  const manifest = (aPath: string, extra = '') => `version: 1
defaults: { provider: local }
recipes:
  one:
    prompt: first
    refs: [${aPath}]
  two:
    prompt: second
    refs: [${aPath}, refs/b.png]
  three:
    prompt: third
    refs: [refs/b.png]${extra}
`

  it('moving or renaming a ref keeps the key; one changed byte changes exactly the keys of recipes using it', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const a = await makeImage({ color: { r: 10, g: 20, b: 30 } })
    await writeFiles(dir, { 'refs/a.png': a, 'refs/b.png': await makeImage({ color: { r: 1, g: 2, b: 3 } }) })
    const before = await keysOf(dir, manifest('refs/a.png'))

    await writeFiles(dir, { 'elsewhere/renamed.png': a })
    const moved = await keysOf(dir, manifest('elsewhere/renamed.png'))
    for (const id of ['one', 'two', 'three']) expect(moved.get(id)?.key).toBe(before.get(id)?.key)

    const changed = Buffer.from(a)
    // One more byte after IEND: different bytes, still a readable PNG.
    const edited = Buffer.concat([changed, Buffer.from([0])])
    await writeFiles(dir, { 'refs/a.png': edited })
    const after = await keysOf(dir, manifest('refs/a.png'))
    expect(after.get('one')?.key).not.toBe(before.get('one')?.key)
    expect(after.get('two')?.key).not.toBe(before.get('two')?.key)
    expect(after.get('three')?.key).toBe(before.get('three')?.key)
  })

  it('a parameter change changes the key; n, output names, out and concurrency do not', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'refs/a.png': await makeImage(), 'refs/b.png': await makeImage({ color: { r: 9, g: 9, b: 9 } }) })
    const before = await keysOf(dir, manifest('refs/a.png'))
    const ratio = await keysOf(dir, manifest('refs/a.png', '\n    ratio: "16:9"'))
    expect(ratio.get('three')?.key).not.toBe(before.get('three')?.key)
    expect(ratio.get('one')?.key).toBe(before.get('one')?.key)
    const cosmetic = await keysOf(
      dir,
      manifest('refs/a.png', '\n    n: 4\n    name: x/{recipe}-{index}.{ext}').replace('version: 1', 'version: 1\nout: elsewhere\nconcurrency: 2'),
    )
    expect(cosmetic.get('three')?.key).toBe(before.get('three')?.key)
  })

  it('credentials never enter the key', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, { 'refs/a.png': await makeImage(), 'refs/b.png': await makeImage({ color: { r: 9, g: 9, b: 9 } }) })
    const text = manifest('refs/a.png').replace('defaults: { provider: local }', 'defaults: { provider: toapis }')
    const withKey = await keysOf(dir, text, { TOAPIS_API_KEY: 'sk-first' })
    const otherKey = await keysOf(dir, text, { TOAPIS_API_KEY: 'sk-second' })
    const apiKeyEnv = await keysOf(dir, text.replace('recipes:', 'providers:\n  toapis: { apiKeyEnv: MY_KEY, baseUrl: "https://example.test/v1" }\nrecipes:'))
    for (const id of ['one', 'two', 'three']) {
      expect(otherKey.get(id)?.key).toBe(withKey.get(id)?.key)
      expect(apiKeyEnv.get(id)?.key).toBe(withKey.get(id)?.key)
    }
  })
})
