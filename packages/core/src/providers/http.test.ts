import { type Dispatcher, getGlobalDispatcher, MockAgent, setGlobalDispatcher } from 'undici'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { download, MAX_RETRY_AFTER_MS, retryAfter } from './http.js'

describe('retryAfter', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('reads seconds, milliseconds (retry-after-ms wins) and HTTP dates', () => {
    expect(retryAfter({ 'retry-after': '2' })).toEqual({ retryAfterMs: 2000 })
    expect(retryAfter({ 'retry-after': '1.5' })).toEqual({ retryAfterMs: 1500 })
    expect(retryAfter({ 'retry-after-ms': '250.5', 'retry-after': '9' })).toEqual({ retryAfterMs: 250.5 })
    vi.useFakeTimers({ now: Date.parse('2026-12-02T10:00:00Z') })
    expect(retryAfter({ 'retry-after': 'Wed, 02 Dec 2026 10:00:30 GMT' })).toEqual({ retryAfterMs: 30_000 })
    // A date already past: no wait.
    expect(retryAfter({ 'retry-after': 'Wed, 02 Dec 2026 09:00:00 GMT' })).toEqual({ retryAfterMs: 0 })
  })

  it('honours waits above 60 s up to the cap, and keeps the cap above it (never drops the value)', () => {
    expect(MAX_RETRY_AFTER_MS).toBe(10 * 60_000)
    expect(retryAfter({ 'retry-after': '120' })).toEqual({ retryAfterMs: 120_000 })
    expect(retryAfter({ 'retry-after': '600' })).toEqual({ retryAfterMs: 600_000 })
    expect(retryAfter({ 'retry-after': '3600' })).toEqual({ retryAfterMs: MAX_RETRY_AFTER_MS })
    expect(retryAfter({ 'retry-after-ms': '90000' })).toEqual({ retryAfterMs: 90_000 })
    expect(retryAfter({ 'retry-after-ms': '1000000000' })).toEqual({ retryAfterMs: MAX_RETRY_AFTER_MS })
    vi.useFakeTimers({ now: Date.parse('2026-12-02T10:00:00Z') })
    expect(retryAfter({ 'retry-after': 'Wed, 02 Dec 2026 10:05:00 GMT' })).toEqual({ retryAfterMs: 300_000 })
    expect(retryAfter({ 'retry-after': 'Thu, 03 Dec 2026 10:00:00 GMT' })).toEqual({ retryAfterMs: MAX_RETRY_AFTER_MS })
  })

  it('ignores what cannot be read', () => {
    expect(retryAfter({})).toEqual({})
    expect(retryAfter({ 'retry-after': 'soon' })).toEqual({})
    expect(retryAfter({ 'retry-after': '-5' })).toEqual({})
    expect(retryAfter({ 'retry-after-ms': 'abc' })).toEqual({})
  })
})

describe('download redirects', () => {
  const context = (agent: MockAgent) => ({ provider: 'toapis' as const, dispatcher: agent, secrets: ['sk-redirect-unit-key'] })
  const options = { signal: new AbortController().signal, maxBytes: 1024, timeoutMs: 5000 }

  it('follows https redirects and never sends the Authorization header (or cookies) to another origin', async () => {
    const agent = new MockAgent()
    agent.disableNetConnect()
    const seen: { origin: string; headers: Record<string, string> }[] = []
    /** A reply body that first records which origin got the request, with which headers. */
    const record = (origin: string, body: string) => (request: { headers?: unknown }) => {
      const headers = Object.entries((request.headers ?? {}) as Record<string, string>).map(([name, value]) => [name.toLowerCase(), value])
      seen.push({ origin, headers: Object.fromEntries(headers) })
      return body
    }
    const a = agent.get('https://a.example')
    a.intercept({ path: '/first' }).reply(302, record('a', ''), { headers: { location: '/second' } })
    a.intercept({ path: '/second' }).reply(307, record('a', ''), { headers: { location: 'https://b.example/final' } })
    agent
      .get('https://b.example')
      .intercept({ path: '/final' })
      .reply(200, record('b', 'bytes'), { headers: { 'content-length': '5' } })
    const bytes = await download(context(agent), 'https://a.example/first', {
      ...options,
      headers: { authorization: 'Bearer sk-redirect-unit-key', Cookie: 'c=1', 'x-keep': 'yes' },
    })
    expect(bytes.toString()).toBe('bytes')
    expect(seen.map((item) => item.origin)).toEqual(['a', 'a', 'b'])
    expect(seen[1]?.headers.authorization).toBe('Bearer sk-redirect-unit-key')
    expect(seen[2]?.headers.authorization).toBeUndefined()
    expect(seen[2]?.headers.cookie).toBeUndefined()
    expect(seen[2]?.headers['x-keep']).toBe('yes')
    await agent.close()
  })

  it('refuses a hop to http on another origin or to another scheme, a loop, and too many hops, saying which', async () => {
    const agent = new MockAgent()
    agent.disableNetConnect()
    const pool = agent.get('https://a.example')
    pool.intercept({ path: '/to-http' }).reply(302, '', { headers: { location: 'http://a.example/x' } })
    pool.intercept({ path: '/to-data' }).reply(301, '', { headers: { location: 'data:image/png;base64,AAAA' } })
    pool.intercept({ path: '/loop-a' }).reply(302, '', { headers: { location: '/loop-b' } })
    pool.intercept({ path: '/loop-b' }).reply(302, '', { headers: { location: '/loop-a' } })
    for (let hop = 0; hop < 7; hop++) pool.intercept({ path: `/chain/${hop}` }).reply(308, '', { headers: { location: `/chain/${hop + 1}` } })
    pool.intercept({ path: '/no-location' }).reply(302, '')
    await expect(download(context(agent), 'https://a.example/to-http', options)).rejects.toThrow(
      /redirected \(HTTP 302\) to a URL that is not https: http:\/\/a\.example/,
    )
    await expect(download(context(agent), 'https://a.example/to-data', options)).rejects.toThrow(/redirected \(HTTP 301\) to a URL that is not https: data:/)
    await expect(download(context(agent), 'https://a.example/loop-a', options)).rejects.toThrow(/redirects in a loop/)
    await expect(download(context(agent), 'https://a.example/chain/0', options)).rejects.toThrow(/redirected more than 5 times/)
    await expect(download(context(agent), 'https://a.example/no-location', options)).rejects.toThrow(/HTTP 302 without a place to go/)
    await agent.close()
  })
})

describe('which dispatcher carries a call', () => {
  const options = { signal: new AbortController().signal, maxBytes: 1024, timeoutMs: 5000 }

  it("a user's own global dispatcher of this undici (a MockAgent, a ProxyAgent) is used when none is given", async () => {
    const previous = getGlobalDispatcher()
    const agent = new MockAgent()
    agent.disableNetConnect()
    agent
      .get('https://mocked.example')
      .intercept({ path: '/image' })
      .reply(200, 'mocked', { headers: { 'content-length': '6' } })
    setGlobalDispatcher(agent)
    try {
      const bytes = await download({ provider: 'toapis', secrets: [] }, 'https://mocked.example/image', options)
      expect(bytes.toString()).toBe('mocked')
    } finally {
      setGlobalDispatcher(previous)
      await agent.close()
    }
  })

  it("a global dispatcher that is another undici's (Node's bundled one, after a host's fetch) is never used", async () => {
    const previous = getGlobalDispatcher()
    // Stands in for Node's bundled undici: a dispatcher that is not an instance of this undici's classes.
    let used = false
    const foreign = {
      dispatch: () => {
        used = true
        throw new Error('the foreign dispatcher was used')
      },
    }
    setGlobalDispatcher(foreign as unknown as Dispatcher)
    try {
      // Our own agent takes the call: an unreachable port then fails as a connection error.
      await download({ provider: 'toapis', secrets: [] }, 'https://127.0.0.1:9/nothing', options).catch(() => undefined)
      expect(used).toBe(false)
    } finally {
      setGlobalDispatcher(previous)
    }
  })
})
