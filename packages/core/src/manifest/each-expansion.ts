// The `each` fan-out of a recipe: the files its glob matches, and one draft per match.
import { posix } from 'node:path'
import type { Diagnostic } from '../diagnostics.js'
import { globBase } from '../fs/glob-base.js'
import type { Draft, ExpandContext } from './expand-context.js'
import type { DocPath } from './source.js'
import { KNOWN_TOKENS, type OpenTokens, substitute, type TokenValues } from './template.js'

/** The tokens an `each` match gives its recipe. */
export const EACH_TOKENS = ['file', 'stem', 'dir'] as const

/** What every draft of a recipe shares, whichever `each` match it is for. */
export type DraftCommon = Omit<Draft, 'id' | 'eachFile' | 'prompt' | 'refs' | 'mask' | 'nameTokens' | 'resolvedRefs' | 'broken' | 'open'>

/** The recipe's tokens before any match: its values, and those unknown. */
interface RecipeTokens {
  values: TokenValues
  open: OpenTokens
}

/**
 * The `each` matches, sorted, with the glob's base folder; `matches` is `[undefined]` for a recipe
 * without `each`, and undefined (unknown) when the glob has an error of its own or matches nothing.
 */
export async function eachMatches(
  eachTemplate: string | undefined,
  hasEach: boolean,
  recipe: RecipeTokens & { recipePath: DocPath },
  context: ExpandContext,
  own: Diagnostic[],
): Promise<{ matches: (string | undefined)[] | undefined; eachBase: string }> {
  const { values, open, recipePath } = recipe
  let matches: (string | undefined)[] | undefined = hasEach ? undefined : [undefined]
  let eachBase = ''
  if (eachTemplate !== undefined) {
    const pattern = substitute(eachTemplate, values, context.vars, KNOWN_TOKENS, open)
    if (pattern.problems.length === 0 && !pattern.uncertain) {
      eachBase = globBase(pattern.value)
      // Symlinked folders are not followed: a link out of the project must not widen a glob.
      // Loaded here: a manifest without `each` (and a remembered no-op) never needs the globber.
      const { glob } = await import('tinyglobby')
      const files = await glob(pattern.value, { cwd: context.root, onlyFiles: true, expandDirectories: false, followSymbolicLinks: false })
      if (files.length === 0) {
        own.push(
          context.source.diagnostic(
            'error',
            'each/no-match',
            [...recipePath, 'each'],
            `\`each: ${pattern.value}\` matches no file`,
            'Check the pattern; it is relative to the manifest folder (e.g. refs/products/*.jpg).',
          ),
        )
      } else matches = files.map((file) => file.split('\\').join('/')).sort()
    }
  }
  return { matches, eachBase }
}

/**
 * One draft per match, its templates filled with the match's tokens. Unknown matches: one draft
 * stands for the recipe, its inputs without {file}, {stem} or {dir} still checked.
 */
export function draftsOf(
  common: DraftCommon,
  templates: { prompt: string | undefined; refs: (string | undefined)[]; mask: string | undefined },
  fanOut: RecipeTokens & { matches: (string | undefined)[] | undefined; eachBase: string },
  complete: boolean,
  context: ExpandContext,
): Draft[] {
  const { matches, eachBase, values, open } = fanOut
  const recipeId = common.recipe
  const drafts: Draft[] = []
  for (const match of matches ?? [undefined]) {
    const tokens: TokenValues = { ...values }
    const draftOpen: OpenTokens = matches === undefined ? { tokens: new Set([...(open.tokens ?? []), ...EACH_TOKENS]), vars: open.vars } : open
    if (match !== undefined) {
      const inBase = eachBase && match.startsWith(`${eachBase}/`) ? match.slice(eachBase.length + 1) : match
      tokens.file = match
      tokens.stem = posix.basename(match, posix.extname(match))
      tokens.dir = posix.dirname(inBase) === '.' ? '' : posix.dirname(inBase)
    }
    const fill = (template: string | undefined) => {
      if (template === undefined) return undefined
      const result = substitute(template, tokens, context.vars, KNOWN_TOKENS, draftOpen)
      return result.problems.length > 0 || result.uncertain ? undefined : result.value
    }
    const prompt = fill(templates.prompt)
    const refs = templates.refs.map(fill)
    const mask = fill(templates.mask)
    const id = match === undefined ? recipeId : `${recipeId}/${eachBase && match.startsWith(`${eachBase}/`) ? match.slice(eachBase.length + 1) : match}`
    drafts.push({
      id,
      recipe: recipeId,
      ...(match !== undefined ? { eachFile: match } : {}),
      provider: common.provider,
      model: common.model,
      prompt,
      params: common.params,
      ...(common.seed !== undefined ? { seed: common.seed } : {}),
      n: common.n,
      candidates: common.candidates,
      refs,
      ...(mask !== undefined ? { mask } : {}),
      nameTokens: tokens,
      docPath: common.docPath,
      capabilities: common.capabilities,
      resolvedRefs: [],
      // A bad prompt still lets the rules check the recipe's inputs and parameters.
      broken: !complete || prompt === undefined || refs.some((ref) => ref === undefined) || (templates.mask !== undefined && mask === undefined),
      namePattern: common.namePattern,
      named: common.named,
      extStandIn: common.extStandIn,
      open: draftOpen,
    })
  }
  return drafts
}
