import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { readBoundedText } from '../fs/project-fs.js'
import type { ProviderSettings } from '../manifest/types.js'
import { type HostedProviderId, hostedBuiltins, hostedDefinitionOf } from './catalog.js'
import type { ProviderId } from './provider.js'

/** Everything needed to talk to one provider, resolved from the manifest, the environment and `.env`. */
export interface ProviderConfig {
  id: ProviderId
  baseUrl: string
  /** Name of the variable the key comes from (for messages). */
  apiKeyEnv: string
  /** The key; undefined when not set anywhere. Never logged. */
  apiKey?: string
  concurrency?: number
  requestsPerMinute?: number
  pollIntervalMs: number
  timeoutMs?: number
  taskTimeoutMs: number
}

/** Hosted services' base URLs (providers.md), from their definitions. */
export const DEFAULT_BASE_URLS: Record<HostedProviderId, string> = Object.fromEntries(
  hostedBuiltins.map((definition) => [definition.id, definition.defaults.baseUrl]),
) as Record<HostedProviderId, string>

/** Where each provider's key is looked for unless `apiKeyEnv` says otherwise, from the definitions. */
export const DEFAULT_KEY_ENV: Record<HostedProviderId, string> = Object.fromEntries(
  hostedBuiltins.map((definition) => [definition.id, definition.defaults.apiKeyEnv]),
) as Record<HostedProviderId, string>

/**
 * Reads `.env` beside the manifest (KEY=value lines); missing means empty. A `.env` that is not a
 * regular file (a link to /dev/zero), too large or unreadable is an error naming it: ignoring it
 * silently would send requests without the key the user put there.
 */
export async function readDotEnv(root: string): Promise<Record<string, string>> {
  const text = await readBoundedText(join(root, '.env'), 'env', { missingOk: true })
  return text === undefined ? {} : (parseEnv(text) as Record<string, string>)
}

/**
 * A provider's configuration. The base URL comes from `IMAGES_EDIT_<PROVIDER>_BASE_URL`, else the
 * manifest, else the service's default; the key from the process environment, else `.env`. Every
 * default comes from the provider's definition.
 */
export function resolveProviderConfig(
  id: HostedProviderId,
  settings: ProviderSettings | undefined,
  env: NodeJS.ProcessEnv,
  dotEnv: Record<string, string>,
): ProviderConfig {
  const defaults = hostedDefinition(id).defaults
  const apiKeyEnv = settings?.apiKeyEnv ?? defaults.apiKeyEnv
  const apiKey = env[apiKeyEnv] || dotEnv[apiKeyEnv] || undefined
  const rawBase = env[`IMAGES_EDIT_${id.toUpperCase()}_BASE_URL`] || dotEnv[`IMAGES_EDIT_${id.toUpperCase()}_BASE_URL`] || settings?.baseUrl || defaults.baseUrl
  return {
    id,
    baseUrl: normalizeBaseUrl(id, rawBase),
    apiKeyEnv,
    ...(apiKey ? { apiKey } : {}),
    ...(settings?.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
    ...(settings?.requestsPerMinute !== undefined ? { requestsPerMinute: settings.requestsPerMinute } : {}),
    pollIntervalMs: settings?.pollIntervalMs ?? defaults.pollIntervalMs,
    ...(settings?.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    taskTimeoutMs: settings?.taskTimeoutMs ?? defaults.taskTimeoutMs,
  }
}

/**
 * Trimmed, trailing slashes removed, then brought to the provider's form by its definition's
 * `normalizeBaseUrl` (toapis and OpenAI: exactly one `/v1`; aa: the host, its paths carry `/api/v1`).
 */
export function normalizeBaseUrl(id: HostedProviderId, url: string): string {
  const base = url.trim().replace(/\/+$/, '')
  const normalize = hostedDefinition(id).normalizeBaseUrl
  return normalize ? normalize(base) : base
}

function hostedDefinition(id: HostedProviderId) {
  const definition = hostedDefinitionOf(id)
  if (!definition) throw new Error(`${id} is not a hosted provider`)
  return definition
}
