import { aaDefinition } from './aa-provider.js'
import { localDefinition } from './local-provider.js'
import { openaiDefinition } from './openai-provider.js'
import { toapisDefinition } from './toapis-provider.js'

/**
 * The built-in providers: the ONLY place that names them. `ProviderId`, the capabilities table,
 * the config defaults and key variables, the registry, the keys redacted from events and the
 * CLI's `--provider` list are all derived from this list; `schema.json`'s provider enum is
 * checked against it by `builtins.test.ts`. Order is the order users see (help, messages).
 * Everything derived from it is in `catalog.ts`, so this file stays a plain list.
 */
export const builtins = [toapisDefinition, aaDefinition, openaiDefinition, localDefinition] as const
