// Layer 3, capabilities: the checks of a recipe's parameters against what its provider accepts.
import type { ProviderCapabilities, ProviderId } from '../providers/provider.js'
import { ratiosWith } from '../providers/sizes.js'
import type { JobParams } from './job.js'
import type { RuleContext } from './rules.js'
import type { DocPath } from './source.js'
import type { RecipeParameters } from './types.js'

/** What the capability rules know of a recipe: only values without a schema error of their own. */
export interface RecipeFacts {
  docPath: DocPath
  /** Undefined when unknown (a schema error): no capability rule can be checked. */
  provider?: ProviderId
  model?: string
  capabilities?: ProviderCapabilities
  /** Effective parameters that are known (set, inherited or built in); one with a schema error is absent. */
  params: Partial<JobParams>
  /** Number of refs, when the list itself is sound. */
  refCount?: number
  hasMask: boolean
  /** Where an effective parameter was set (recipe, defaults, or the recipe itself when built in). */
  where(field: keyof RecipeParameters): DocPath
}

/** Pushes one located diagnostic of a capability rule. */
type Report = (rule: string, path: DocPath, message: string, hint: string) => void

/** The two ways a capability rule speaks. */
interface Reporter {
  error: Report
  warning: Report
}

/**
 * Layer 3, capabilities: what the recipe's provider accepts. Once per recipe (they do not depend
 * on an `each` match); a rule whose values are unknown (schema errors) is skipped.
 */
export function checkCapabilities(facts: RecipeFacts, { source, diagnostics }: Pick<RuleContext, 'source' | 'diagnostics'>): void {
  const caps = facts.capabilities
  const provider = facts.provider
  const report: Reporter = {
    error: (rule, path, message, hint) => diagnostics.push(source.diagnostic('error', rule, path, message, hint)),
    warning: (rule, path, message, hint) => diagnostics.push(source.diagnostic('warning', rule, path, message, hint)),
  }
  checkParameterConflicts(facts, report)
  if (!caps || !provider) return
  checkSize(facts, caps, provider, report)
  checkProviderLimits(facts, caps, provider, report)
  checkTransparency(facts, caps, provider, report)
}

/** Parameters that contradict each other whatever the provider. */
function checkParameterConflicts(facts: RecipeFacts, { error, warning }: Reporter): void {
  const { params } = facts
  if (params.compression !== undefined && params.format === 'png') {
    warning('params/compression-png', facts.where('compression'), '`compression` has no effect on png output', 'Remove it, or set `format: jpeg` or `webp`.')
  }
  if (params.background === 'transparent' && params.format === 'jpeg') {
    error(
      'params/transparent-jpeg',
      facts.where('background'),
      'a transparent background needs png or webp output; format is jpeg',
      'Set `format: png` or `webp`, or drop `background: transparent`.',
    )
  }
}

/** Whether the provider can make the ratio, and the resolution at that ratio. */
function checkSize(facts: RecipeFacts, caps: ProviderCapabilities, provider: ProviderId, { error }: Reporter): void {
  const { params } = facts
  if (params.ratio === undefined) return
  if (params.ratio === 'auto') {
    if (!caps.autoRatio) error('provider/ratio', facts.where('ratio'), `${provider} does not accept ratio "auto"`, 'Pick a fixed ratio such as "1:1".')
  } else if (!caps.sizes[params.ratio]) {
    const ratios = Object.keys(caps.sizes)
    error('provider/ratio', facts.where('ratio'), `${provider} cannot make ratio ${params.ratio}`, `${provider} supports: ${ratios.join(', ')}.`)
  } else if (params.resolution !== undefined && !caps.sizes[params.ratio]?.[params.resolution]) {
    const ratios = ratiosWith(caps.sizes, params.resolution)
    const resolutions = Object.keys(caps.sizes[params.ratio] ?? {})
    error(
      'provider/resolution',
      facts.where('resolution'),
      `${provider} cannot make ${params.resolution} at ratio ${params.ratio}`,
      ratios.length > 0
        ? `${params.resolution} is available for ${ratios.join(', ')}; at ${params.ratio} use ${resolutions.join(' or ')}.`
        : `${provider} has no ${params.resolution}; use ${resolutions.join(' or ')}.`,
    )
  }
}

/** How many refs, which formats and qualities, whether a mask, and which parameters the provider takes. */
function checkProviderLimits(facts: RecipeFacts, caps: ProviderCapabilities, provider: ProviderId, { error, warning }: Reporter): void {
  const { params } = facts
  if (facts.refCount !== undefined && facts.refCount > caps.maxRefs) {
    error(
      'provider/max-refs',
      [...facts.docPath, 'refs'],
      `${provider} takes at most ${caps.maxRefs} reference images; this recipe has ${facts.refCount}`,
      'Remove references or combine them into one image.',
    )
  }
  if (params.format !== undefined && !caps.formats.includes(params.format)) {
    error('provider/format', facts.where('format'), `${provider} cannot output ${params.format}`, `Use ${caps.formats.join(' or ')}.`)
  }
  if (params.quality !== undefined && !caps.qualities.includes(params.quality)) {
    error('provider/quality', facts.where('quality'), `${provider} does not accept quality "${params.quality}"`, `Use ${caps.qualities.join(', ')}.`)
  }
  if (facts.hasMask && !caps.mask.supported) {
    error('provider/mask', [...facts.docPath, 'mask'], `${provider} does not support masks`, 'Remove the mask or use a provider that supports it.')
  }
  for (const parameter of ['compression', 'background', 'inputFidelity', 'moderation'] as const) {
    if (params[parameter] !== undefined && !caps.parameters.includes(parameter)) {
      warning(
        'provider/ignored-parameter',
        facts.where(parameter),
        `${provider} ignores \`${parameter}\``,
        `Remove \`${parameter}\`, or accept that it has no effect on ${provider}.`,
      )
    }
  }
}

/** What the provider makes of transparency, once the output format can hold it. */
function checkTransparency(facts: RecipeFacts, caps: ProviderCapabilities, provider: ProviderId, { error, warning }: Reporter): void {
  const { params } = facts
  if (params.background === 'transparent' && params.format !== undefined && params.format !== 'jpeg') {
    if (caps.transparentBackground === 'downgraded') {
      warning(
        'provider/transparent',
        facts.where('background'),
        `${provider} (${facts.model ?? 'its model'}) silently turns a transparent background into "auto"`,
        'Expect an opaque background, or use a provider that honours transparency.',
      )
    } else if (caps.transparentBackground === 'unsupported') {
      error('provider/transparent', facts.where('background'), `${provider} cannot make a transparent background`, 'Drop `background: transparent`.')
    }
  }
}
