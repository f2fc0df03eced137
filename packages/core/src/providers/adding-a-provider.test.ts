/**
 * Adding a provider is one definition: this suite appends a tiny provider, defined here, to the
 * builtins list (as its one line in `builtins.ts` would) and checks that everything else — ids,
 * capabilities, config defaults, key variable, registry, key redaction — follows, through a real
 * `openProject().build`. Only the schema's enum is not derived (checked by `builtins.test.ts`),
 * so the recipe reaches the new provider through `providerOverride` (`--provider`).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { makeImage, tempDir, writeFiles } from '../../../../test/helpers.js'
import { openProject } from '../project.js'
import type { RunEvent } from '../run/events.js'
import { builtins } from './builtins.js'
import { capabilitiesOf, defaultModels } from './capabilities.js'
import { hostedProviderIds, providerIds } from './catalog.js'
import type { ProviderConfig } from './config.js'
import { DEFAULT_KEY_ENV, resolveProviderConfig } from './config.js'
import type { HostedProviderDefinition } from './definition.js'
import type { EditRequest, ProviderId } from './provider.js'
import { createProviderRegistry } from './registry.js'

const seen = vi.hoisted(() => ({ configs: [] as ProviderConfig[], requests: [] as EditRequest[] }))

vi.mock('./builtins.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('./builtins.js')>()
  const { localDefinition, renderLocalEdit } = await import('./local-provider.js')
  const capabilities = { ...localDefinition.capabilities(localDefinition.defaultModel), paid: true }
  // The whole new provider: a definition and the provider its factory creates.
  const echoDefinition: HostedProviderDefinition<'echo'> = {
    specificationVersion: 1,
    kind: 'hosted',
    id: 'echo',
    defaultModel: 'echo-1',
    capabilities: () => capabilities,
    defaults: { baseUrl: 'https://echo.invalid/v1', apiKeyEnv: 'ECHO_API_KEY', pollIntervalMs: 1_234, taskTimeoutMs: 5_678 },
    create(config) {
      seen.configs.push(config)
      return {
        id: 'echo' as ProviderId,
        defaultModel: 'echo-1',
        capabilities: () => capabilities,
        async generate(request, _prepared, context) {
          seen.requests.push(request)
          // A service echoing the key back: it must never reach an event.
          context.onProgress({ stage: 'running', note: `authorised with ${config.apiKey}` })
          return renderLocalEdit(request, context)
        },
      }
    },
  }
  return { builtins: [...original.builtins, echoDefinition] }
})

const ECHO = 'echo' as ProviderId
const KEY = 'echo-secret-key-0042'

describe('adding a provider', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
    seen.configs.length = 0
    seen.requests.length = 0
  })

  it('derives its id, model, capabilities, key variable and config defaults from the one definition', () => {
    expect(builtins.map((definition) => definition.id)).toEqual(['toapis', 'aa', 'openai', 'local', 'echo'])
    expect(providerIds).toContain(ECHO)
    expect(hostedProviderIds).toContain(ECHO)
    expect(defaultModels[ECHO]).toBe('echo-1')
    expect(capabilitiesOf(ECHO, 'echo-1').paid).toBe(true)
    expect(DEFAULT_KEY_ENV).toMatchObject({ echo: 'ECHO_API_KEY' })
    const hosted = ECHO as Parameters<typeof resolveProviderConfig>[0]
    expect(resolveProviderConfig(hosted, undefined, {}, {})).toEqual({
      id: 'echo',
      baseUrl: 'https://echo.invalid/v1',
      apiKeyEnv: 'ECHO_API_KEY',
      pollIntervalMs: 1_234,
      taskTimeoutMs: 5_678,
    })
    expect(resolveProviderConfig(hosted, { baseUrl: 'https://ignored.example' }, { IMAGES_EDIT_ECHO_BASE_URL: 'http://127.0.0.1:9/' }, {}).baseUrl).toBe(
      'http://127.0.0.1:9',
    )
    const registry = createProviderRegistry({ config: (id) => resolveProviderConfig(id, undefined, {}, {}) })
    expect(() => registry.get(ECHO)).toThrow(/ECHO_API_KEY is not set/)
  })

  it('builds with it through openProject: its factory gets the resolved config, its key is redacted from events', async () => {
    const { dir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    await writeFiles(dir, {
      'images.edit.yaml': 'version: 1\ndefaults: { provider: local }\nrecipes:\n  hero:\n    prompt: a hero\n    refs: [refs/a.png]\n    n: 2\n',
      'refs/a.png': await makeImage({ color: { r: 200, g: 10, b: 10 } }),
    })
    const events: RunEvent[] = []
    const project = await openProject({ cwd: dir, env: { ECHO_API_KEY: KEY }, providerOverride: ECHO })
    const result = await project.build({ frozen: false, onEvent: (event) => events.push(event) })

    expect(result.done).toEqual(['hero'])
    expect(result.failed).toEqual([])
    expect(seen.configs).toEqual([
      { id: 'echo', baseUrl: 'https://echo.invalid/v1', apiKeyEnv: 'ECHO_API_KEY', apiKey: KEY, pollIntervalMs: 1_234, taskTimeoutMs: 5_678 },
    ])
    expect(seen.requests).toMatchObject([{ model: 'echo-1', n: 2 }])
    expect(events.some((event) => event.type === 'job:progress' && event.note === 'authorised with [redacted]')).toBe(true)
    expect(JSON.stringify(events)).not.toContain(KEY)
    const lock = await readFile(join(dir, 'images.edit.lock'), 'utf8')
    expect(lock).toContain('echo')
    expect(lock).not.toContain(KEY)
  })
})
