/** Tokens a template may use, by where the template is. */
export type TokenValues = Record<string, string | undefined>

/** A `{token}` that could not be substituted. */
export interface TokenProblem {
  /** The token as written, braces included, e.g. `{stem}`. */
  token: string
  kind: 'unknown' | 'unavailable' | 'unknown-var'
}

const TOKEN = /\{\{|\}\}|\{([^{}]*)\}/g

/**
 * Substitutes `{name}` and `{vars.name}` tokens. `{{` and `}}` write literal braces. `values`
 * holds the tokens usable here; `known` lists every token name of the language, so a token that
 * exists but is not available in this place (e.g. `{stem}` without `each`) is told apart from a
 * typo.
 */
export function substitute(
  template: string,
  values: TokenValues,
  vars: Readonly<Record<string, string | number>>,
  known: ReadonlySet<string>,
): { value: string; problems: TokenProblem[] } {
  const problems: TokenProblem[] = []
  const value = template.replace(TOKEN, (match, name: string | undefined) => {
    if (match === '{{') return '{'
    if (match === '}}') return '}'
    const token = (name ?? '').trim()
    if (token.startsWith('vars.')) {
      const variable = vars[token.slice(5)]
      if (variable === undefined) {
        problems.push({ token: match, kind: 'unknown-var' })
        return match
      }
      return String(variable)
    }
    const replacement = values[token]
    if (replacement !== undefined) return replacement
    problems.push({ token: match, kind: known.has(token) ? 'unavailable' : 'unknown' })
    return match
  })
  return { value, problems }
}

/** Every token name the manifest language knows (besides `vars.*`). */
export const KNOWN_TOKENS: ReadonlySet<string> = new Set(['recipe', 'index', 'ext', 'stem', 'file', 'dir', 'hash'])
