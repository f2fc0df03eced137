import type { Dispatcher } from 'undici'
import { ImagesEditError } from '../errors.js'
import { createAaProvider } from './aa-provider.js'
import type { ProviderConfig } from './config.js'
import { createLocalProvider } from './local-provider.js'
import { createOpenAiProvider } from './openai-provider.js'
import type { ImageEditProvider, ProviderId } from './provider.js'
import { createToapisProvider } from './toapis-provider.js'

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
  config?: (id: Exclude<ProviderId, 'local'>) => ProviderConfig
  /** undici dispatcher for every HTTP call (timeouts, proxies, MockAgent). */
  dispatcher?: Dispatcher
}

/** The built-in providers. */
export function createProviderRegistry(options: RegistryOptions = {}): ProviderRegistry {
  const cache = new Map<ProviderId, ImageEditProvider>()
  const dispatcher = options.dispatcher ? { dispatcher: options.dispatcher } : {}
  return {
    config: (id) => (id === 'local' ? undefined : options.config?.(id)),
    get(id) {
      const existing = options.overrides?.[id] ?? cache.get(id)
      if (existing) return existing
      let provider: ImageEditProvider
      if (id === 'local') provider = createLocalProvider()
      else {
        const config = options.config?.(id)
        if (!config) throw new ImagesEditError('PROVIDER', `no configuration for provider ${id}`, { userFacing: false })
        if (!config.apiKey) {
          throw new ImagesEditError(
            'PROVIDER',
            `${config.apiKeyEnv} is not set. Export it, add it to .env beside images.edit.yaml, or run with --provider local to work offline.`,
          )
        }
        provider =
          id === 'toapis'
            ? createToapisProvider(config, dispatcher)
            : id === 'aa'
              ? createAaProvider(config, dispatcher)
              : createOpenAiProvider(config, dispatcher)
      }
      cache.set(id, provider)
      return provider
    },
  }
}
