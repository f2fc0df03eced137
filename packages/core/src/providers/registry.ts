import { ImagesEditError } from '../errors.js'
import { createLocalProvider } from './local-provider.js'
import type { ImageEditProvider, ProviderId } from './provider.js'

/** Creates provider instances on demand, so a key is asked for only when a job must really call its provider. */
export interface ProviderRegistry {
  /** The provider for `id`; throws a user-facing error when it cannot be used (no key, not available). */
  get(id: ProviderId): ImageEditProvider
}

/**
 * The built-in providers. `overrides` replaces any of them (tests, the Vite dev server's
 * placeholder renderer, a self-hosted gateway).
 */
export function createProviderRegistry(overrides: Partial<Record<ProviderId, ImageEditProvider>> = {}): ProviderRegistry {
  const cache = new Map<ProviderId, ImageEditProvider>()
  return {
    get(id) {
      const existing = overrides[id] ?? cache.get(id)
      if (existing) return existing
      if (id === 'local') {
        const provider = createLocalProvider()
        cache.set(id, provider)
        return provider
      }
      throw new ImagesEditError(
        'PROVIDER',
        `the ${id} provider cannot make calls in this version of images-edit yet (validation, plan and cached builds work). Run with --provider local to build offline placeholders.`,
      )
    },
  }
}
