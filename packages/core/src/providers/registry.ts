import type { Dispatcher } from 'undici'
import { ImagesEditError } from '../errors.js'
import { definitionOf, type HostedProviderId } from './catalog.js'
import type { ProviderConfig } from './config.js'
import type { ImageEditProvider, ProviderId } from './provider.js'

/** Creates provider instances on demand, so a key is asked for only when a job must really call its provider. */
export interface ProviderRegistry {
  /** The provider for `id`; throws a user-facing error when it cannot be used (no key). */
  get(id: ProviderId): ImageEditProvider
  /** Its resolved configuration (base URL, limits), when it is a hosted provider. */
  config(id: ProviderId): ProviderConfig | undefined
}

/** Options of {@link createProviderRegistry}. */
export interface RegistryOptions {
  /** Replace any provider (tests, the Vite dev server's placeholder renderer). */
  overrides?: Partial<Record<ProviderId, ImageEditProvider>>
  /** Configuration of the hosted providers (see `resolveProviderConfig`). */
  config?: (id: HostedProviderId) => ProviderConfig
  /** undici dispatcher for every HTTP call (timeouts, proxies, MockAgent). */
  dispatcher?: Dispatcher
}

/** The built-in providers, each created by its definition's factory (`builtins.ts`). */
export function createProviderRegistry(options: RegistryOptions = {}): ProviderRegistry {
  const cache = new Map<ProviderId, ImageEditProvider>()
  const dispatcher = options.dispatcher ? { dispatcher: options.dispatcher } : {}
  const definition = (id: ProviderId) => {
    const found = definitionOf(id)
    if (!found) throw new ImagesEditError('PROVIDER', `unknown provider ${id}`, { userFacing: false })
    if (found.specificationVersion !== 1) {
      throw new ImagesEditError('PROVIDER', `provider ${id} implements specification ${String(found.specificationVersion)}; this images-edit knows 1`, {
        userFacing: false,
      })
    }
    return found
  }
  return {
    config: (id) => {
      const found = definitionOf(id)
      return found?.kind === 'hosted' ? options.config?.(found.id) : undefined
    },
    get(id) {
      const existing = options.overrides?.[id] ?? cache.get(id)
      if (existing) return existing
      const found = definition(id)
      let provider: ImageEditProvider
      if (found.kind === 'offline') provider = found.create()
      else {
        const config = options.config?.(found.id)
        if (!config) throw new ImagesEditError('PROVIDER', `no configuration for provider ${id}`, { userFacing: false })
        if (!config.apiKey) {
          throw new ImagesEditError(
            'PROVIDER',
            `${config.apiKeyEnv} is not set. Export it, add it to .env beside images.edit.yaml, or run with --provider local to work offline.`,
          )
        }
        provider = found.create(config, dispatcher)
      }
      cache.set(id, provider)
      return provider
    },
  }
}
