/** Tokens a template may use, by where the template is. */
export type TokenValues = Record<string, string | undefined>

/** A `{token}` that could not be substituted. */
export interface TokenProblem {
  /** The token as written, braces included, e.g. `{stem}`. */
  token: string
  kind: 'unknown' | 'unavailable' | 'unknown-var'
}

/**
 * Tokens that are fine where they are but whose value is not known (yet): `{stem}` when checking a
 * template before any `each` match exists, `{vars.x}` when `x` has a schema error of its own.
 * They are no problem; the result is only `uncertain`.
 */
export interface OpenTokens {
  tokens?: ReadonlySet<string>
  /** Var names, or `all` when `vars` itself is unusable. */
  vars?: ReadonlySet<string> | 'all'
}

const TOKEN = /\{\{|\}\}|\{([^{}]*)\}/g

/**
 * Substitutes `{name}` and `{vars.name}` tokens. `{{` and `}}` write literal braces. `values`
 * holds the tokens usable here; `known` lists every token name of the language, so a token that
 * exists but is not available in this place (e.g. `{stem}` without `each`) is told apart from a
 * typo. A token in `open` is left as written and makes the result `uncertain`.
 */
export function substitute(
  template: string,
  values: TokenValues,
  vars: Readonly<Record<string, string | number>>,
  known: ReadonlySet<string>,
  open: OpenTokens = {},
): { value: string; problems: TokenProblem[]; uncertain: boolean } {
  const problems: TokenProblem[] = []
  let uncertain = false
  const value = template.replace(TOKEN, (match, name: string | undefined) => {
    if (match === '{{') return '{'
    if (match === '}}') return '}'
    const token = (name ?? '').trim()
    if (token.startsWith('vars.')) {
      const varName = token.slice(5)
      const variable = Object.hasOwn(vars, varName) ? vars[varName] : undefined
      if (variable !== undefined) return String(variable)
      if (open.vars === 'all' || open.vars?.has(varName)) {
        uncertain = true
        return match
      }
      problems.push({ token: match, kind: 'unknown-var' })
      return match
    }
    const replacement = Object.hasOwn(values, token) ? values[token] : undefined
    if (replacement !== undefined) return replacement
    if (open.tokens?.has(token)) {
      uncertain = true
      return match
    }
    problems.push({ token: match, kind: known.has(token) ? 'unavailable' : 'unknown' })
    return match
  })
  return { value, problems, uncertain }
}

/** Names of the tokens a template uses (`{vars.x}` as `vars.x`), literal braces aside. */
export function tokensIn(template: string): Set<string> {
  const names = new Set<string>()
  for (const match of template.matchAll(TOKEN)) if (match[1] !== undefined) names.add(match[1].trim())
  return names
}

/** Every token name the manifest language knows (besides `vars.*`). */
export const KNOWN_TOKENS: ReadonlySet<string> = new Set(['recipe', 'index', 'ext', 'stem', 'file', 'dir', 'hash'])
