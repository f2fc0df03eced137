// Checks of a recipe's templates for the tokens usable where each is, and their diagnostics.
import type { Diagnostic } from '../diagnostics.js'
import { EACH_TOKENS } from './each-expansion.js'
import type { ExpandContext } from './expand-context.js'
import type { DocPath } from './source.js'
import { KNOWN_TOKENS, substitute, type TokenProblem } from './template.js'

/** A recipe's templates; each undefined when unset or unknown (`name` also when it is the default one). */
export interface RecipeTemplates {
  each: string | undefined
  prompt: string | undefined
  refs: (string | undefined)[]
  mask: string | undefined
  name: string | undefined
}

/** Templates, checked once for the tokens usable where they are (values do not matter here). */
export function checkTemplates(recipePath: DocPath, templates: RecipeTemplates, hasEach: boolean, context: ExpandContext, own: Diagnostic[]): void {
  const inputTokens = new Set<string>(['recipe', ...(hasEach ? EACH_TOKENS : [])])
  const check = (template: string | undefined, path: DocPath, place: string, usable: ReadonlySet<string>) => {
    if (template === undefined) return
    const result = substitute(template, {}, context.vars, KNOWN_TOKENS, { tokens: usable, vars: context.unknownVars })
    for (const problem of result.problems) own.push(tokenDiagnostic(problem, path, place, hasEach, context))
  }
  check(templates.each, [...recipePath, 'each'], '`each`', new Set(['recipe']))
  check(templates.prompt, [...recipePath, 'prompt'], 'a prompt', inputTokens)
  for (const [index, ref] of templates.refs.entries()) check(ref, [...recipePath, 'refs', index], 'a ref path', inputTokens)
  check(templates.mask, [...recipePath, 'mask'], 'a mask path', inputTokens)
  check(templates.name, [...recipePath, 'name'], '`name`', new Set([...inputTokens, 'index', 'ext', 'hash']))
}

/** A token problem of a template, located at the token, with the tokens usable there as the hint. */
function tokenDiagnostic(problem: TokenProblem, path: DocPath, place: string, hasEach: boolean, context: ExpandContext): Diagnostic {
  const rule = problem.kind === 'unknown-var' ? 'tokens/unknown-var' : problem.kind === 'unavailable' ? 'tokens/unavailable' : 'tokens/unknown'
  if (place === '`name`') {
    return context.source.diagnostic(
      'error',
      rule,
      path,
      problem.kind === 'unavailable' ? `${problem.token} cannot be used in this recipe's name` : `unknown token ${problem.token} in \`name\``,
      'Name tokens: {recipe} {index} {ext} {hash} {vars.name}, and {file} {stem} {dir} with `each`.',
      { substring: problem.token },
    )
  }
  const varNames = Object.keys(context.vars)
  return context.source.diagnostic(
    'error',
    rule,
    path,
    problem.kind === 'unknown-var'
      ? `${problem.token} is not defined in \`vars\``
      : problem.kind === 'unavailable'
        ? `${problem.token} cannot be used in ${place}`
        : `unknown token ${problem.token}`,
    problem.kind === 'unknown-var'
      ? varNames.length > 0
        ? `Defined vars: ${varNames.map((name) => `{vars.${name}}`).join(', ')}.`
        : 'Add it under `vars:` at the top of the manifest.'
      : tokenHint(place, hasEach),
    { substring: problem.token },
  )
}

/** The tokens usable in a template of this place. */
function tokenHint(place: string, hasEach: boolean): string {
  if (place === '`each`') return 'Only {recipe} and {vars.name} can be used in `each`.'
  if (!hasEach) return `Tokens here: {recipe}, {vars.name}; {file}, {stem} and {dir} need \`each\`. Write {{ and }} for literal braces.`
  return 'Tokens here: {recipe}, {file}, {stem}, {dir}, {vars.name}. Write {{ and }} for literal braces.'
}
