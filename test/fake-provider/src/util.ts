import { randomBytes } from 'node:crypto'

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** A ULID-like id: 10 characters of time, then `randomChars` random ones (Crockford base32). */
export function ulidish(randomChars = 10): string {
  let time = Date.now()
  let head = ''
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head
    time = Math.floor(time / 32)
  }
  const bytes = randomBytes(randomChars)
  let tail = ''
  for (const b of bytes) tail += CROCKFORD[b % 32]
  return head + tail
}

/** `bytes` random bytes as lower-case hex. */
export function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex')
}

/** Whether a value is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Parses JSON, returning undefined on a syntax error. */
export function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
}

/** Copy of a JSON value with long strings (data URLs) shortened, for the request log. */
export function elide(value: unknown): unknown {
  if (typeof value === 'string') return value.length > 512 ? `${value.slice(0, 64)}…(${value.length} chars)` : value
  if (Array.isArray(value)) return value.map(elide)
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, elide(v)]))
  return value
}

/** Unix seconds. */
export function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000)
}

/** Strict integer parse of a JSON number or (multipart) decimal string; undefined when invalid. */
export function toInt(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim())
  return undefined
}

/** A JSON value as a readable quoted string for error messages. */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value)
  return text === undefined ? 'undefined' : text.length > 80 ? `${text.slice(0, 77)}...` : text
}
