import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { schemaPath } from '../manifest/validate-schema.js'
import { builtins } from './builtins.js'
import { capabilitiesOf, defaultModels } from './capabilities.js'
import { hostedProviderIds, providerIds } from './catalog.js'
import { DEFAULT_BASE_URLS, DEFAULT_KEY_ENV, normalizeBaseUrl, resolveProviderConfig } from './config.js'
import { createProviderRegistry } from './registry.js'

const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as {
  properties: { providers: { properties: Record<string, unknown> } }
  definitions: { providerId: { enum: string[] } }
}

describe('the builtins list', () => {
  it('is what schema.json allows: the provider enum and the keys of `providers` (edit schema.json when adding a provider)', () => {
    const ids = builtins.map((definition) => definition.id)
    expect(schema.definitions.providerId.enum).toEqual(ids)
    expect(Object.keys(schema.properties.providers.properties)).toEqual(ids)
  })

  it('names each provider once, every definition at specification version 1', () => {
    expect(new Set(providerIds).size).toBe(builtins.length)
    for (const definition of builtins) expect(definition.specificationVersion).toBe(1)
  })

  it('is where ids, default models, capabilities, key variables and base URLs come from', () => {
    expect(providerIds).toEqual(['toapis', 'aa', 'openai', 'local'])
    expect(hostedProviderIds).toEqual(['toapis', 'aa', 'openai'])
    for (const definition of builtins) {
      expect(defaultModels[definition.id]).toBe(definition.defaultModel)
      expect(capabilitiesOf(definition.id, definition.defaultModel)).toBe(definition.capabilities(definition.defaultModel))
    }
    expect(DEFAULT_KEY_ENV).toEqual({ toapis: 'TOAPIS_API_KEY', aa: 'AA_API_KEY', openai: 'OPENAI_API_KEY' })
    expect(DEFAULT_BASE_URLS).toEqual({ toapis: 'https://toapis.com/v1', aa: 'https://api.aa.com.cn', openai: 'https://api.openai.com/v1' })
  })

  it('keeps the config defaults and base-URL forms of before the definitions', () => {
    const config = resolveProviderConfig('openai', undefined, {}, {})
    expect(config).toEqual({ id: 'openai', baseUrl: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', pollIntervalMs: 5_000, taskTimeoutMs: 900_000 })
    expect(normalizeBaseUrl('toapis', ' https://gw.example/v1/v1/ ')).toBe('https://gw.example/v1')
    expect(normalizeBaseUrl('openai', 'https://gw.example')).toBe('https://gw.example/v1')
    expect(normalizeBaseUrl('aa', 'https://api.aa.com.cn/api/v1/')).toBe('https://api.aa.com.cn')
  })

  it('creates each provider through its definition; hosted ones only with a key', () => {
    const registry = createProviderRegistry({ config: (id) => resolveProviderConfig(id, undefined, { AA_API_KEY: 'k' }, {}) })
    expect(registry.get('local').id).toBe('local')
    expect(registry.config('local')).toBeUndefined()
    expect(registry.get('aa').id).toBe('aa')
    expect(() => registry.get('toapis')).toThrow(/TOAPIS_API_KEY is not set/)
  })
})
