import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { readBoundedText } from '../fs/project-fs.js'
import type { ProviderSettings } from '../manifest/types.js'
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

/** Hosted services' base URLs (providers.md). */
export const DEFAULT_BASE_URLS: Record<Exclude<ProviderId, 'local'>, string> = {
  toapis: 'https://toapis.com/v1',
  aa: 'https://api.aa.com.cn',
  openai: 'https://api.openai.com/v1',
}

/** Where each provider's key is looked for unless `apiKeyEnv` says otherwise. */
export const DEFAULT_KEY_ENV: Record<Exclude<ProviderId, 'local'>, string> = {
  toapis: 'TOAPIS_API_KEY',
  aa: 'AA_API_KEY',
  openai: 'OPENAI_API_KEY',
}

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
 * manifest, else the service's default; the key from the process environment, else `.env`.
 */
export function resolveProviderConfig(
  id: Exclude<ProviderId, 'local'>,
  settings: ProviderSettings | undefined,
  env: NodeJS.ProcessEnv,
  dotEnv: Record<string, string>,
): ProviderConfig {
  const apiKeyEnv = settings?.apiKeyEnv ?? DEFAULT_KEY_ENV[id]
  const apiKey = env[apiKeyEnv] || dotEnv[apiKeyEnv] || undefined
  const rawBase =
    env[`IMAGES_EDIT_${id.toUpperCase()}_BASE_URL`] || dotEnv[`IMAGES_EDIT_${id.toUpperCase()}_BASE_URL`] || settings?.baseUrl || DEFAULT_BASE_URLS[id]
  return {
    id,
    baseUrl: normalizeBaseUrl(id, rawBase),
    apiKeyEnv,
    ...(apiKey ? { apiKey } : {}),
    ...(settings?.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
    ...(settings?.requestsPerMinute !== undefined ? { requestsPerMinute: settings.requestsPerMinute } : {}),
    pollIntervalMs: settings?.pollIntervalMs ?? 5_000,
    ...(settings?.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    taskTimeoutMs: settings?.taskTimeoutMs ?? 900_000,
  }
}

/**
 * Trailing slashes removed. toapis and OpenAI bases end in exactly one `/v1` — some clients
 * append it twice (providers.md §1.1); aa's base is the host, its paths carry `/api/v1`.
 */
export function normalizeBaseUrl(id: Exclude<ProviderId, 'local'>, url: string): string {
  let base = url.trim().replace(/\/+$/, '')
  if (id === 'aa') return base.replace(/\/api\/v1$/, '')
  while (base.endsWith('/v1/v1')) base = base.slice(0, -3)
  return base.endsWith('/v1') ? base : `${base}/v1`
}
