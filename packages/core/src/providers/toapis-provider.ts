// The toapis provider: what it accepts, its definition, and the provider object over its calls.
import type { Dispatcher } from 'undici'
import { withOneV1 } from './base-url.js'
import type { ProviderConfig } from './config.js'
import type { HostedProviderDefinition } from './definition.js'
import type { ImageEditProvider, ProviderCapabilities } from './provider.js'
import { gptImageSizes } from './sizes.js'
import { downloadResult, type Prepared, pollTask, prepareInputs, submitTask, toapisClient } from './toapis-requests.js'

export { mapToapisError } from './toapis-errors.js'
export { normalizeTask, resultUrls, TOAPIS_STATUSES } from './toapis-tasks.js'
export { TOAPIS_UPLOAD_LIMIT } from './toapis-uploads.js'

const MB = 1024 * 1024

/** What toapis accepts (providers.md §1). */
const capabilities: ProviderCapabilities = {
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
  // WebP ref is re-encoded to PNG before upload (`uploadFile` in toapis-uploads.ts). A WebP *URL*
  // ref is passed through as given and toapis may refuse it.
  refs: { formats: ['png', 'jpeg', 'webp'], maxBytes: 50 * MB, urls: true },
  mask: { supported: true, maxBytes: 10 * MB },
  transparentBackground: 'downgraded',
  parameters: ['compression', 'background'],
  paid: true,
}

/** toapis: a task service (upload, submit, poll, download). The default provider. */
export const toapisDefinition: HostedProviderDefinition<'toapis'> = {
  specificationVersion: 1,
  kind: 'hosted',
  id: 'toapis',
  defaultModel: 'gpt-image-1.5-official',
  capabilities: () => capabilities,
  defaults: { baseUrl: 'https://toapis.com/v1', apiKeyEnv: 'TOAPIS_API_KEY', pollIntervalMs: 5_000, taskTimeoutMs: 900_000 },
  // The base ends in exactly one `/v1`: some clients append it twice (providers.md §1.1).
  normalizeBaseUrl: withOneV1,
  create: (config, options) => createToapisProvider(config, options),
}

/**
 * toapis (gpt-image-1.5-official): upload local inputs, submit a task, poll it, download the
 * results. Every method is one HTTP call (uploads: one per input not already uploaded).
 */
export function createToapisProvider(config: ProviderConfig, options: { dispatcher?: Dispatcher } = {}): ImageEditProvider {
  const client = toapisClient(config, options)
  return {
    id: 'toapis',
    defaultModel: toapisDefinition.defaultModel,
    capabilities: (model) => toapisDefinition.capabilities(model),
    ...(config.baseUrl.startsWith('http:') ? { httpResultOrigin: new URL(config.baseUrl).origin } : {}),
    prepare: (request, context) => prepareInputs(client, request, context),
    submit: (request, prepared, context) => submitTask(client, request, prepared as Prepared, context),
    poll: (taskId, context) => pollTask(client, taskId, context),
    download: (url, context) => downloadResult(client, url, context),
  }
}
