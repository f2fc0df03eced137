import type { IncomingMessage, ServerResponse } from 'node:http'
import { ImagesEditError, type PickRequest } from '@images-edit/core'
import type { DevContext } from './dev-context.js'
import { describeError, TAG } from './messages.js'
import type { PanelTakes } from './panel-takes.js'

/** A panel action's body is a few ids and numbers. */
const MAX_BODY_BYTES = 16 * 1024

/** The panel's POST routes (under `/__images-edit/`). */
export const ACTIONS = ['pick', 'take/quote', 'take'] as const
export type Action = (typeof ACTIONS)[number]

/** An answer to a refused or failed action: its HTTP status and what to tell the user. */
export class ActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message)
  }
}

/**
 * Why a POST must not act, or undefined. These routes spend money (a new take) or rewrite the lock
 * (a pick), so they act only for the developer at this machine:
 * - the connection comes from this machine (not the LAN of a `vite --host`) and names it in its
 *   `Host` (`localhost`, a loopback address): a tunnel (ngrok, cloudflared) connects from here but
 *   names its public host, and a rebound DNS name names the attacker's — refused even where Vite's
 *   own host check is off (`allowedHosts: true`);
 * - it is a same-origin JSON request: a cross-site form or `no-cors` fetch cannot send
 *   `application/json`, and a cross-site `fetch` names its own `Origin` (and `Sec-Fetch-Site`).
 *   A request with no `Origin` at all does not come from a web page (curl, a script on this machine).
 * The panel page also refuses to be framed, so another site cannot click in it for the user.
 */
export function refusePost(request: IncomingMessage): ActionError | undefined {
  if (request.method !== 'POST') return new ActionError(405, 'this panel route takes POST')
  const host = request.headers.host ?? ''
  if (!isLoopback(request.socket.remoteAddress ?? '') || !isLoopbackHost(host)) {
    return new ActionError(
      403,
      `panel actions (pick, new take) act only for this machine's own localhost page; refused a request for ${host || 'no host'} from ${request.socket.remoteAddress ?? 'an unknown address'}. Open the panel at http://localhost:<port>/__images-edit/ on this machine, or use images-edit pick / build --force.`,
    )
  }
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') return new ActionError(415, 'panel actions take a JSON body (Content-Type: application/json)')
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return new ActionError(403, `refused a ${site} request: panel actions come only from the panel's own page`)
  const { origin } = request.headers
  if (origin === undefined) return undefined
  let originHost: string | undefined
  try {
    originHost = new URL(origin).host
  } catch {
    originHost = undefined
  }
  if (!host || originHost !== host)
    return new ActionError(403, `refused a request from ${origin}: panel actions come only from the panel's own page (${host ?? 'this server'})`)
  return undefined
}

/** Runs one panel action and answers with JSON: the result, or `{ error, code }` with a status that says why. */
export async function serveAction(context: DevContext, takes: PanelTakes, action: Action, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    const refused = refusePost(request)
    if (refused) throw refused
    if (context.closed) throw new ActionError(503, 'the dev server is closing; nothing was started')
    const body = await readJson(request)
    await context.whenStarted().catch(() => {})
    const { session } = context
    if (!session) throw new ActionError(503, describeError(context.startError ?? 'images-edit has not started', context.root))
    const answer = await run(context, takes, action, body)
    reply(response, action === 'take' ? 202 : 200, answer)
  } catch (error) {
    const failure = asActionError(error, context.root)
    if (action !== 'take/quote') context.logger.warn(`${TAG} ${action} refused: ${failure.message}`, { timestamp: true })
    reply(response, failure.status, { error: failure.message, ...(failure.code ? { code: failure.code } : {}) })
  }
}

async function run(context: DevContext, takes: PanelTakes, action: Action, body: Record<string, unknown>): Promise<unknown> {
  const session = context.session as NonNullable<DevContext['session']>
  const job = stringField(body, 'job')
  if (action === 'pick') {
    const request = pickRequest(job, body)
    const view = await session.pick(request)
    // The panel's next frame shows the pick; its answer comes after the listing that has it.
    await takes.refresh()
    const which = `take ${request.take}${request.images ? `, image ${request.images.join(', ')}` : ''}`
    context.logger.info(`${TAG} ${view.id}: now ${which} (picked in the panel; free, the lock records it)`, { timestamp: true })
    return { job: view.id, take: request.take, images: view.images }
  }
  if (action === 'take/quote') return session.quoteTake(job)
  const quote = await session.newTake(job, stringField(body, 'token'))
  context.logger.info(`${TAG} ${quote.job}: new take ${quote.take} started from the panel (${quote.text.head})`, { timestamp: true })
  return { started: true, quote }
}

function pickRequest(job: string, body: Record<string, unknown>): PickRequest {
  const { take, images } = body
  const positive = (value: unknown) => Number.isInteger(value) && (value as number) >= 1
  if (!positive(take)) throw new ActionError(400, '"take" must be a take number (1, 2, …)')
  if (images !== undefined && !(Array.isArray(images) && images.length > 0 && images.every(positive))) {
    throw new ActionError(400, '"images" must list one image number (1, 2, …) per output')
  }
  return { job, take: take as number, ...(images ? { images: images as number[] } : {}) }
}

function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name]
  if (typeof value !== 'string' || value === '') throw new ActionError(400, `"${name}" must be a non-empty string`)
  return value
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_BODY_BYTES) throw new ActionError(413, `a panel action's body is at most ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ActionError(400, 'the body is not JSON')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ActionError(400, 'the body must be a JSON object')
  return body as Record<string, unknown>
}

/** Frozen and budget refusals are conflicts with the server's settings; a mistake in the request is a 400; anything else a 500. */
function asActionError(error: unknown, root: string): ActionError {
  if (error instanceof ActionError) return error
  if (!ImagesEditError.is(error)) return new ActionError(500, error instanceof Error ? error.message : String(error))
  const status =
    error.code === 'FROZEN' || error.code === 'BUDGET' || error.code === 'LOCK_EDITED'
      ? 409
      : error.code === 'USAGE' || error.code === 'MANIFEST_INVALID'
        ? 400
        : 500
  return new ActionError(status, describeError(error, root), error.code)
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response
    .writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) })
    .end(text)
}

/** A loopback socket address: 127.0.0.0/8 or ::1, also IPv4-mapped. */
function isLoopback(address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address
  return plain === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain)
}

/** A `Host` header naming this machine: `localhost` (or a `*.localhost` name, which resolve here), a loopback address; any port. */
function isLoopbackHost(host: string): boolean {
  let name: string
  try {
    name = new URL(`http://${host}`).hostname.toLowerCase()
  } catch {
    return false
  }
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  return isLoopback(name.replace(/^\[|\]$/g, ''))
}
