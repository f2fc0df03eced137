import { builtins } from './builtins.js'
import { definitionOf } from './catalog.js'
import type { ProviderCapabilities, ProviderId } from './provider.js'

/**
 * What each provider accepts is declared by its definition (`capabilities(model)`, in the
 * provider's module, apart from its HTTP code), so validation and planning never need a provider
 * instance or a key. This module reads them for the manifest layer.
 */

/** Model used when a recipe and `defaults` name none, by provider (from the definitions). */
export const defaultModels: Record<ProviderId, string> = Object.fromEntries(builtins.map((definition) => [definition.id, definition.defaultModel])) as Record<
  ProviderId,
  string
>

/** Provider used when a recipe and `defaults` name none (PRODUCT §5). */
export const DEFAULT_PROVIDER: ProviderId = 'toapis'

/** Capabilities of a provider for a model. Model-specific differences go in the provider's definition. */
export function capabilitiesOf(provider: ProviderId, model: string): ProviderCapabilities {
  const definition = definitionOf(provider)
  if (!definition) throw new Error(`unknown provider ${provider}`)
  return definition.capabilities(model)
}
