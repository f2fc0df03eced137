import { describe, expect, it } from 'vitest'
import { REDACTED, redact, redactDeep } from './redact.js'

const KEY = 'sk-proj-Zq7Rt2Lm9Xv4Bn8Wc3Kp6Yd1'
const OTHER = 'aa-9Fh3Jk7Lp2Qs5Vx8'

/** Every 8-character piece of the key: none may survive. */
function pieces(secret: string): string[] {
  return Array.from({ length: secret.length - 7 }, (_, index) => secret.slice(index, index + 8))
}

function expectClean(text: string, secret = KEY): void {
  for (const piece of pieces(secret)) expect(text, `piece ${piece}`).not.toContain(piece)
}

describe('redact', () => {
  it('replaces a key at the start, in the middle, at the end, and every occurrence', () => {
    expect(redact(`${KEY} was refused`, [KEY])).toBe(`${REDACTED} was refused`)
    expect(redact(`token ${KEY} was refused`, [KEY])).toBe(`token ${REDACTED} was refused`)
    expect(redact(`refused: ${KEY}`, [KEY])).toBe(`refused: ${REDACTED}`)
    expect(redact(`${KEY}${KEY} and ${KEY}`, [KEY])).toBe(`${REDACTED} and ${REDACTED}`)
  })

  it('redacts before a cut: a key straddling the cut leaves no piece behind', () => {
    for (let offset = 1; offset < KEY.length; offset++) {
      const text = `${'x'.repeat(200 - offset)}${KEY} tail`
      const cut = redact(text, [KEY]).slice(0, 200)
      expectClean(cut)
    }
  })

  it('finds the key JSON-escaped (\\u escapes, \\/, doubly escaped), URL-encoded (%XX, %25XX, any case) and as HTML references, also mixed', () => {
    const jsonEscaped = [...KEY].map((character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
    const upperEscaped = jsonEscaped.toUpperCase().replaceAll('\\U', '\\u')
    const doubly = jsonEscaped.replaceAll('\\u', '\\\\u')
    const urlEncoded = [...KEY].map((character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`).join('')
    const doubleUrl = [...KEY].map((character) => `%25${character.charCodeAt(0).toString(16)}`).join('')
    const html = [...KEY].map((character) => `&#${character.charCodeAt(0)};`).join('')
    const htmlHex = [...KEY].map((character) => `&#x${character.charCodeAt(0).toString(16)};`).join('')
    const mixed = `${KEY.slice(0, 5)}\\u${KEY.charCodeAt(5).toString(16).padStart(4, '0')}%${KEY.charCodeAt(6).toString(16)}${KEY.slice(7)}`
    const slashKey = 'key/with/slash-123'
    for (const form of [jsonEscaped, upperEscaped, doubly, urlEncoded, doubleUrl, html, htmlHex, mixed, encodeURIComponent(KEY)]) {
      expect(redact(`{"detail":"bad key ${form} here"}`, [KEY])).toBe(`{"detail":"bad key ${REDACTED} here"}`)
    }
    expect(redact(JSON.stringify({ key: slashKey }).replaceAll('/', '\\/'), [slashKey])).toBe(`{"key":"${REDACTED}"}`)
    expect(redact(JSON.stringify(JSON.stringify({ message: `a "${KEY}"` })), [KEY])).not.toContain(KEY.slice(4, 16))
  })

  it('overlapping and nested secrets leave no piece of either', () => {
    const first = 'abcdef123456'
    const second = '123456ghijkl'
    expect(redact(`<abcdef123456ghijkl>`, [first, second])).toBe(`<${REDACTED}>`)
    expect(redact(`<abcdef123456ghijkl>`, [second, first])).toBe(`<${REDACTED}>`)
    expect(redact(`x ${KEY} y`, [KEY.slice(3, 20), KEY])).toBe(`x ${REDACTED} y`)
    expect(redact(`${KEY}${OTHER}`, [KEY, OTHER])).toBe(REDACTED)
    expect(redact('aaaaaa', ['aaaa'])).toBe(REDACTED)
  })

  it('ignores secrets under 4 characters and empty ones, and leaves text without secrets as it was', () => {
    expect(redact('the key abc is short', ['abc', '', 'x'])).toBe('the key abc is short')
    expect(redact('nothing here', [KEY])).toBe('nothing here')
    expect(redact('', [KEY])).toBe('')
    expect(redact('regex chars a.b*c', ['a.b*c'])).toBe(`regex chars ${REDACTED}`)
    expect(redact('regex chars axb*c', ['a.b*c'])).toBe('regex chars axb*c')
  })

  it('takes the token out of `Bearer <token>` even when it is not a known secret, but keeps prose', () => {
    expect(redact('Authorization: Bearer sk-unknown-0123456789', [])).toBe(`Authorization: Bearer ${REDACTED}`)
    expect(redact('authorization=bearer%20tok-12345678&x=1', [])).toBe(`authorization=bearer%20${REDACTED}&x=1`)
    expect(redact('Bearer authentication required', [])).toBe('Bearer authentication required')
    expect(redact(`Bearer ${KEY}`, [KEY])).toBe(`Bearer ${REDACTED}`)
  })
})

describe('redactDeep', () => {
  it('redacts every string of a JSON-like value, keys included, and keeps other values', () => {
    const value = { message: `bad ${KEY}`, list: [KEY, 3, null, { [KEY]: true }], count: 2, ok: false }
    expect(redactDeep(value, [KEY])).toEqual({ message: `bad ${REDACTED}`, list: [REDACTED, 3, null, { [REDACTED]: true }], count: 2, ok: false })
    expect(value.message).toBe(`bad ${KEY}`)
    const bytes = Buffer.from('abc')
    expect(redactDeep({ bytes }, [KEY]).bytes).toBe(bytes)
  })
})
