// What every HTTP call of a provider shares: its context, and the undici dispatcher it goes through.
import type { Dispatcher } from 'undici'
import type { ProviderId } from './provider.js'

/** Options shared by every HTTP call of a provider. */
export interface HttpContext {
  provider: ProviderId
  /** undici dispatcher (an Agent with timeouts, a MockAgent in unit tests, a proxy). */
  dispatcher?: Dispatcher
  /** Values that must never appear in an error message (API keys). */
  secrets: readonly string[]
}

let ownAgent: Dispatcher | undefined

/**
 * The dispatcher of a call: the one given; else undici's global dispatcher when it is one of this
 * undici's own (a user's `setGlobalDispatcher(new ProxyAgent(…))`, or a test's MockAgent); else an
 * agent of our own that honours `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`. Never a global
 * dispatcher of another undici: that slot is shared through `globalThis` with Node's built-in
 * fetch, and when a host process (Astro's build, for one) has made a fetch first, it holds Node's
 * bundled undici, which cannot send this undici's multipart bodies ("action is not a function").
 */
export async function dispatcherOf(context: { dispatcher?: Dispatcher }): Promise<Dispatcher> {
  if (context.dispatcher) return context.dispatcher
  const undici = await import('undici')
  const global = undici.getGlobalDispatcher()
  if (global instanceof undici.Dispatcher && !(global instanceof undici.Agent && global.constructor === undici.Agent)) return global
  ownAgent ??= new undici.EnvHttpProxyAgent()
  return ownAgent
}
