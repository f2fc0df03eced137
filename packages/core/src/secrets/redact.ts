/**
 * The one place where secrets (API keys) are taken out of text before it leaves the process:
 * error messages, events, `--json` lines. Everything that prints or stores a text a provider sent
 * goes through {@link redact} or {@link redactDeep}, and always BEFORE the text is cut to a
 * length: a key straddling a cut would otherwise leak its first half.
 */

/** What replaces each secret. */
export const REDACTED = '[redacted]'

/** Secrets shorter than this are not matched: they would blank out ordinary words. */
export const MIN_SECRET_LENGTH = 4

/**
 * `Bearer <token>` (an echoed Authorization header) has its token replaced even when the token is
 * not one of the known secrets (another key, a key the user mistyped), once it is at least this
 * long and holds a digit — ordinary prose ("Bearer authentication required") is kept.
 */
export const MIN_BEARER_TOKEN_LENGTH = 8

const BEARER = /\bBearer(?:\s|%20|\+|\\u0020)+([A-Za-z0-9\-._~+/]+=*)/gi

/** Compiled matchers, by secret (a run has one key per provider; bounded anyway). */
const matchers = new Map<string, RegExp>()
const MAX_MATCHERS = 64

/**
 * `text` with every occurrence of every secret replaced by {@link REDACTED}. A secret is found as
 * is, and in the encodings a body commonly carries it in, each character independently (so mixed
 * forms match too): JSON escapes (`\u0073`, `\/`, doubly escaped `\\u0073`), URL encoding (`%73`,
 * `%2573`), HTML character references (`&#115;`, `&#x73;`). Overlapping or adjacent matches of
 * several secrets become one replacement, so no piece of either survives. `Bearer <token>` forms
 * lose their token (see {@link MIN_BEARER_TOKEN_LENGTH}). Secrets under
 * {@link MIN_SECRET_LENGTH} characters are ignored.
 */
export function redact(text: string, secrets: readonly string[]): string {
  if (text.length === 0) return text
  const spans: [number, number][] = []
  for (const secret of new Set(secrets)) {
    if (secret.length < MIN_SECRET_LENGTH) continue
    collect(matcherFor(secret), text, spans)
  }
  for (const match of text.matchAll(BEARER)) {
    const token = match[1] ?? ''
    if (token.length >= MIN_BEARER_TOKEN_LENGTH && /\d/.test(token)) {
      const end = (match.index ?? 0) + match[0].length
      spans.push([end - token.length, end])
    }
  }
  if (spans.length === 0) return text
  return replaceSpans(text, spans)
}

/**
 * A copy of a JSON-like value (strings, arrays, plain objects, numbers…) with {@link redact}
 * applied to every string in it, object keys included. Byte arrays and dates are kept as they are.
 */
export function redactDeep<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return redact(value, secrets) as T
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, secrets)) as T
  if (value instanceof Uint8Array || value instanceof Date) return value
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [redact(key, secrets), redactDeep(item, secrets)])) as T
  }
  return value
}

/** Every match of `matcher` in `text`, overlapping ones included, added to `spans`. */
function collect(matcher: RegExp, text: string, spans: [number, number][]): void {
  matcher.lastIndex = 0
  for (let match = matcher.exec(text); match !== null; match = matcher.exec(text)) {
    spans.push([match.index, match.index + match[0].length])
    matcher.lastIndex = match.index + 1
  }
}

/** `text` with each span (merged where they overlap or touch) replaced by one {@link REDACTED}. */
function replaceSpans(text: string, spans: [number, number][]): string {
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1])
  let result = ''
  let position = 0
  let index = 0
  while (index < spans.length) {
    const [start] = spans[index] as [number, number]
    let end = (spans[index] as [number, number])[1]
    index++
    while (index < spans.length && (spans[index] as [number, number])[0] <= end) {
      end = Math.max(end, (spans[index] as [number, number])[1])
      index++
    }
    result += text.slice(position, start) + REDACTED
    position = end
  }
  return result + text.slice(position)
}

function matcherFor(secret: string): RegExp {
  let matcher = matchers.get(secret)
  if (!matcher) {
    if (matchers.size >= MAX_MATCHERS) matchers.clear()
    matcher = new RegExp([...secret].map(characterPattern).join(''), 'g')
    matchers.set(secret, matcher)
  }
  return matcher
}

/** One character of a secret: itself or any of its common encodings. */
function characterPattern(character: string): string {
  const code = character.codePointAt(0) ?? 0
  const alternatives = [escapeRegExp(character)]
  // JSON: \uXXXX (UTF-16 units), once or doubly escaped; the short escapes of `/`, `"` and `\`.
  const units = character.length === 2 ? [character.charCodeAt(0), character.charCodeAt(1)] : [code]
  alternatives.push(units.map((unit) => `\\\\+u${hexPattern(unit, 4)}`).join(''))
  if (character === '/' || character === '"' || character === '\\') alternatives.push(`\\\\+${escapeRegExp(character)}`)
  // URL encoding of each UTF-8 byte, possibly encoded again (%25…); `+` for a space.
  const bytes = [...Buffer.from(character, 'utf8')]
  alternatives.push(bytes.map((byte) => `%(?:25)*${hexPattern(byte, 2)}`).join(''))
  if (character === ' ') alternatives.push('\\+')
  // HTML character references.
  alternatives.push(`&#0*${code};`, `&#[xX]0*${hexPattern(code, 1)};`)
  return `(?:${alternatives.join('|')})`
}

/** A case-insensitive pattern of `value` in hexadecimal, zero-padded to `width` digits. */
function hexPattern(value: number, width: number): string {
  return [...value.toString(16).padStart(width, '0')].map((digit) => (/[a-f]/.test(digit) ? `[${digit}${digit.toUpperCase()}]` : digit)).join('')
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}
