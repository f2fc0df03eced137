import type { ProviderCapabilities, ProviderId } from './provider.js'
import { gptImageSizes } from './sizes.js'

const MB = 1024 * 1024

/**
 * What each provider accepts, by provider id (providers.md). Declared here, apart from the HTTP
 * code, so validation and planning never need a provider instance or a key.
 */
const table: Record<ProviderId, ProviderCapabilities> = {
  toapis: {
    maxRefs: 16,
    sizes: gptImageSizes,
    autoRatio: true,
    // The /official page says "up to 4 images per request"; the edits page says 10. We ask for at
    // most 4 per request and let the runner split larger n (providers.md §1.2).
    n: { min: 1, max: 4 },
    formats: ['png', 'jpeg'],
    qualities: ['low', 'medium', 'high'],
    // 50 MB by URL; local files go through the 10 MB upload endpoint and are re-encoded to fit.
    // toapis itself takes only PNG and JPEG references: `webp` stays accepted here because a local
    // WebP ref is re-encoded to PNG before upload (toapis-provider.ts `uploadFile`). A WebP *URL*
    // ref is passed through as given and toapis may refuse it.
    refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB, urls: true },
    mask: { supported: true, maxBytes: 10 * MB },
    transparentBackground: 'downgraded',
    parameters: ['compression', 'background'],
    paid: true,
  },
  aa: {
    maxRefs: 16,
    sizes: { '1:1': { '1k': { width: 1024, height: 1024 } }, '3:2': { '1k': { width: 1536, height: 1024 } }, '2:3': { '1k': { width: 1024, height: 1536 } } },
    autoRatio: true,
    n: { min: 1, max: 10 },
    formats: ['png', 'jpeg', 'webp'],
    qualities: ['low', 'medium', 'high', 'auto'],
    // Local files travel as data URLs (≤ 20 MiB of text, so ≤ 15 MiB of bytes after base64).
    refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 15 * MB, urls: true },
    mask: { supported: true, maxBytes: 15 * MB },
    transparentBackground: 'supported',
    parameters: ['compression', 'background', 'inputFidelity', 'moderation'],
    paid: true,
  },
  openai: {
    maxRefs: 16,
    sizes: { '1:1': { '1k': { width: 1024, height: 1024 } }, '3:2': { '1k': { width: 1536, height: 1024 } }, '2:3': { '1k': { width: 1024, height: 1536 } } },
    autoRatio: true,
    n: { min: 1, max: 10 },
    formats: ['png', 'jpeg', 'webp'],
    qualities: ['low', 'medium', 'high', 'auto'],
    refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB - 1, urls: true },
    mask: { supported: true, maxBytes: 4 * MB - 1 },
    transparentBackground: 'supported',
    // Multipart edits have no `moderation` field (providers.md §3.2).
    parameters: ['compression', 'background', 'inputFidelity'],
    paid: true,
  },
  local: {
    maxRefs: 16,
    // Mirrors toapis so switching a recipe to `local` and back never changes what validates.
    sizes: gptImageSizes,
    autoRatio: true,
    n: { min: 1, max: 10 },
    formats: ['png', 'jpeg', 'webp'],
    qualities: ['low', 'medium', 'high', 'auto'],
    refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB, urls: true },
    mask: { supported: true, maxBytes: 50 * MB },
    transparentBackground: 'supported',
    // Accepted and ignored: a placeholder has no use for them, and warning about them would be noise.
    parameters: ['compression', 'background', 'inputFidelity', 'moderation'],
    paid: false,
  },
}

/** Model used when a recipe and `defaults` name none. */
export const defaultModels: Record<ProviderId, string> = {
  toapis: 'gpt-image-1.5-official',
  aa: 'gpt-image-1.5',
  openai: 'gpt-image-1.5',
  local: 'local-v1',
}

/** Provider used when a recipe and `defaults` name none (PRODUCT §5). */
export const DEFAULT_PROVIDER: ProviderId = 'toapis'

/** Capabilities of a provider for a model. Model-specific differences go here as they become known. */
export function capabilitiesOf(provider: ProviderId, _model: string): ProviderCapabilities {
  return table[provider]
}
