/**
 * The provider definition: everything images-edit knows about one provider, in one object
 * exported by the provider's own module. `builtins.ts` lists them; `ProviderId`, the
 * capabilities table, the config defaults, the key variables, the registry, the secrets to
 * redact and the CLI's `--provider` list are all read from that list. This file holds types only.
 */
import type { Dispatcher } from 'undici'
import type { ProviderConfig } from './config.js'
import type { ImageEditProvider, ProviderCapabilities } from './provider.js'

/** What every definition declares, hosted or not. */
interface ProviderDefinitionBase<Id extends string> {
  /**
   * Version of this definition contract and of the {@link ImageEditProvider} it creates, in the
   * spirit of vercel/ai's `specificationVersion` on its model specs. It is `1` today. A change
   * that an existing provider module could not satisfy unchanged (a new required member, a
   * different meaning of a stage) makes a version 2; the registry then adapts or refuses version
   * 1 definitions by this field instead of failing somewhere inside a build.
   */
  readonly specificationVersion: 1
  /** Id used in the manifest (`provider: …`), on the CLI (`--provider …`), in job keys and in events. */
  readonly id: Id
  /** Model used when a recipe and `defaults` name none. */
  readonly defaultModel: string
  /**
   * What the provider accepts for `model`. Validation and planning call it before anything is
   * paid, without a key or an instance, so it must not depend on configuration.
   */
  capabilities(model: string): ProviderCapabilities
}

/** Defaults of a hosted provider's configuration; the manifest's `providers.<id>` overrides them. */
export interface HostedProviderDefaults {
  /** The service's API base URL; `IMAGES_EDIT_<ID>_BASE_URL` and `baseUrl` in the manifest override it. */
  baseUrl: string
  /** Environment (or `.env`) variable the key is read from unless the manifest's `apiKeyEnv` names another. */
  apiKeyEnv: string
  /** First status poll of a task this long after submit. @example 5000 */
  pollIntervalMs: number
  /** Stop polling a task after this long. @example 900000 */
  taskTimeoutMs: number
}

/** What a factory gets besides its resolved configuration. */
export interface ProviderFactoryOptions {
  /** undici dispatcher for every HTTP call (timeouts, proxies, MockAgent). */
  dispatcher?: Dispatcher
}

/** A paid service reached over HTTP with a key. */
export interface HostedProviderDefinition<Id extends string = string> extends ProviderDefinitionBase<Id> {
  readonly kind: 'hosted'
  readonly defaults: HostedProviderDefaults
  /**
   * Brings a configured base URL (trimmed, trailing slashes removed) to the form the provider's
   * paths are appended to (e.g. exactly one `/v1`). Identity when omitted.
   */
  normalizeBaseUrl?(base: string): string
  /** Creates the provider from its resolved configuration; called only once a job must call it and a key is set. */
  create(config: ProviderConfig, options: ProviderFactoryOptions): ImageEditProvider
}

/** A provider that needs no key and no configuration (`local`). */
export interface OfflineProviderDefinition<Id extends string = string> extends ProviderDefinitionBase<Id> {
  readonly kind: 'offline'
  /** Creates the provider. */
  create(): ImageEditProvider
}

/**
 * One provider, as its module exports it. Adding a provider is one module exporting one of
 * these, plus its entry in `builtins.ts` (and the schema's provider enum, which a test checks).
 *
 * @example
 * ```ts
 * export const exampleDefinition: HostedProviderDefinition<'example'> = {
 *   specificationVersion: 1,
 *   kind: 'hosted',
 *   id: 'example',
 *   defaultModel: 'example-image-1',
 *   capabilities: () => exampleCapabilities,
 *   defaults: { baseUrl: 'https://api.example.com/v1', apiKeyEnv: 'EXAMPLE_API_KEY', pollIntervalMs: 5_000, taskTimeoutMs: 900_000 },
 *   create: (config, options) => createExampleProvider(config, options),
 * }
 * ```
 */
export type ProviderDefinition<Id extends string = string> = HostedProviderDefinition<Id> | OfflineProviderDefinition<Id>
