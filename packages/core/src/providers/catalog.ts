/**
 * What is derived from the {@link builtins} list: ids, hosted ids, lookup by id. Kept apart from
 * `builtins.ts` so that list is all a new provider touches.
 */
import { builtins } from './builtins.js'
import type { HostedProviderDefinition } from './definition.js'
import type { ProviderId } from './provider.js'

/** The definition of one built-in provider (a union narrowed by `kind` and `id`). */
export type Builtin = (typeof builtins)[number]

/** Ids of the providers that are called over HTTP with a key. */
export type HostedProviderId = Extract<Builtin, { kind: 'hosted' }>['id']

/** Ids of the built-in providers, in {@link builtins} order (the CLI's `--provider` list). */
export const providerIds: readonly ProviderId[] = builtins.map((definition) => definition.id)

/** The hosted built-ins: those with a key, a base URL and a configuration. */
export const hostedBuiltins: readonly HostedProviderDefinition<HostedProviderId>[] = builtins.filter(
  (definition): definition is Extract<Builtin, { kind: 'hosted' }> => definition.kind === 'hosted',
)

/** Ids of the hosted providers (whose keys are redacted from every event). */
export const hostedProviderIds: readonly HostedProviderId[] = hostedBuiltins.map((definition) => definition.id)

/** The definition of a built-in provider; undefined for an id no definition has. */
export function definitionOf(id: string): Builtin | undefined {
  return builtins.find((definition) => definition.id === id)
}

/** The definition of a hosted provider; undefined for an offline or unknown id. */
export function hostedDefinitionOf(id: string): HostedProviderDefinition<HostedProviderId> | undefined {
  return hostedBuiltins.find((definition) => definition.id === id)
}
