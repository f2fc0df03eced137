// A draft's job key, output paths (its name templated) and finished job.
import { posix } from 'node:path'
import { computeJobKey } from '../plan/job-key.js'
import type { ProviderCapabilities, ProviderId } from '../providers/provider.js'
import type { Draft, ExpandContext, Planned } from './expand-context.js'
import type { Job, JobInput } from './job.js'
import { KNOWN_TOKENS, substitute, type TokenValues, tokensIn } from './template.js'

/** Stand-in for {hash} in the name of a job whose key cannot be computed (it has errors). */
const HASH_STAND_IN = '0000000000'

const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp' } as const

/** The output name pattern of a recipe without `name`. */
export function defaultName(hasEach: boolean, n: number): string {
  if (hasEach) return n === 1 ? '{recipe}/{dir}/{stem}.{ext}' : '{recipe}/{dir}/{stem}-{index}.{ext}'
  return n === 1 ? '{recipe}.{ext}' : '{recipe}-{index}.{ext}'
}

/**
 * The draft's output paths (built with stand-ins where a value is unknown) and, when the draft is
 * sound, its finished job with its key.
 */
export function plan(draft: Draft, sound: boolean, context: ExpandContext): Planned {
  const refs: JobInput[] = draft.resolvedRefs
  const key =
    sound && draft.provider !== undefined && draft.model !== undefined && draft.prompt !== undefined
      ? computeJobKey({
          provider: draft.provider,
          model: draft.model,
          prompt: draft.prompt,
          params: draft.params,
          refs: refs.map(keyPart),
          ...(draft.resolvedMask ? { mask: keyPart(draft.resolvedMask) } : {}),
          ...(draft.seed !== undefined ? { seed: draft.seed } : {}),
        })
      : undefined
  const pattern = draft.namePattern
  if (pattern === undefined) return { draft, comparable: 'none', bad: false }
  // An unknown `n` builds the first name only (n is 1 then): it is exact, the others are unknown.
  const used = tokensIn(pattern)
  const comparable = key === undefined && used.has('hash') ? 'none' : draft.extStandIn && used.has('ext') ? 'recipe' : 'all'
  const outRelative = posix.relative(context.root.split('\\').join('/'), context.outDir.split('\\').join('/')) || '.'
  const outputs: string[] = []
  for (let index = 1; index <= draft.n; index++) {
    const ext = EXTENSIONS[draft.params.format] ?? EXTENSIONS.png
    const tokens: TokenValues = { ...draft.nameTokens, index: String(index), ext, hash: key ? key.slice(0, 10) : HASH_STAND_IN }
    const name = substitute(pattern, tokens, context.vars, KNOWN_TOKENS, draft.open)
    // A token error in the name is reported once per recipe, by expandRecipe. An unknown value
    // (an `each` that matched nothing, a bad recipe id) leaves nothing to check.
    if (name.problems.length > 0 || name.uncertain) return { draft, comparable, bad: name.problems.length > 0 }
    const normalized = posix.normalize(name.value.split('\\').join('/')).replace(/^(\.\/)+/, '')
    outputs.push(posix.join(outRelative, normalized))
  }
  if (!sound || key === undefined || draft.provider === undefined || draft.model === undefined || draft.prompt === undefined || !draft.capabilities) {
    return { draft, outputs, comparable, bad: false }
  }
  const known = { key, provider: draft.provider, model: draft.model, prompt: draft.prompt, capabilities: draft.capabilities }
  return { draft, outputs, comparable, job: finishJob(draft, known, outputs), bad: false }
}

/** What a sound draft is known to have, besides its fields that are always set. */
interface SoundFacts {
  key: string
  provider: ProviderId
  model: string
  prompt: string
  capabilities: ProviderCapabilities
}

/** The job of a sound draft: everything known, with its key and output paths. */
function finishJob(draft: Draft, { key, provider, model, prompt, capabilities }: SoundFacts, outputs: string[]): Job {
  const params = draft.params
  const size = params.ratio === 'auto' ? undefined : capabilities.sizes[params.ratio]?.[params.resolution]
  return {
    id: draft.id,
    recipe: draft.recipe,
    ...(draft.eachFile !== undefined ? { eachFile: draft.eachFile } : {}),
    key,
    provider,
    model,
    paid: capabilities.paid,
    prompt,
    params: {
      ratio: params.ratio,
      resolution: params.resolution,
      quality: params.quality,
      format: params.format,
      ...(params.compression !== undefined ? { compression: params.compression } : {}),
      ...(params.background !== undefined ? { background: params.background } : {}),
      ...(params.inputFidelity !== undefined ? { inputFidelity: params.inputFidelity } : {}),
      ...(params.moderation !== undefined ? { moderation: params.moderation } : {}),
    },
    ...(draft.seed !== undefined ? { seed: draft.seed } : {}),
    n: draft.n,
    candidates: draft.candidates,
    ...(size ? { size } : {}),
    refs: draft.resolvedRefs,
    ...(draft.resolvedMask ? { mask: draft.resolvedMask } : {}),
    outputs,
    docPath: draft.docPath,
  }
}

function keyPart(input: JobInput): string {
  return input.input.kind === 'file' ? input.input.sha256 : `url:${input.input.url}`
}
