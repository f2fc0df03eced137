import { createRequire } from 'node:module'

type YamlModule = typeof import('yaml')

let loaded: YamlModule | undefined

/**
 * The `yaml` package, loaded on first use. A no-op build answers from the parse caches and never
 * needs the parser; loading its many modules costs tens of milliseconds of start-up. The package
 * ships CommonJS too, so a synchronous require keeps the callers synchronous.
 */
export function yaml(): YamlModule {
  loaded ??= createRequire(import.meta.url)('yaml') as YamlModule
  return loaded
}
