import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { isInside } from '@images-edit/core'
import { type DevContext, IMAGE_PREFIX, PANEL_PREFIX } from './dev-context.js'
import { TAG } from './messages.js'
import { ACTIONS, type Action, serveAction } from './panel-actions.js'
import { PANEL_HTML } from './panel-page.js'
import type { PanelStream } from './panel-stream.js'
import type { PanelTakes } from './panel-takes.js'

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' }
const INPUT_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' }

/** A Connect middleware, as Vite's `server.middlewares.use` takes it. */
export type Middleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void

/** Connect middleware: images, placeholders and the panel. Anything else goes to Vite. */
export function devMiddleware(context: DevContext, panel: PanelStream, takes: PanelTakes): Middleware {
  return (request, response, next) => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const { base } = context
    let path = url.pathname
    if (base !== '/' && path.startsWith(base)) path = `/${path.slice(base.length)}`
    if (path.startsWith(IMAGE_PREFIX)) {
      serveImage(context, path.slice(IMAGE_PREFIX.length), response).catch(next)
    } else if (!context.options.panel) {
      next()
    } else if (path === PANEL_PREFIX.slice(0, -1)) {
      response.writeHead(302, { Location: `${base}${PANEL_PREFIX.slice(1)}` }).end()
    } else if (path.startsWith(PANEL_PREFIX)) {
      servePanel(context, { panel, takes }, path.slice(PANEL_PREFIX.length), request, response).catch(next)
    } else {
      next()
    }
  }
}

/** The panel's routes: its page, its state, its event stream, the refs, masks and take images it shows, and its actions. */
async function servePanel(
  context: DevContext,
  { panel, takes }: { panel: PanelStream; takes: PanelTakes },
  route: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if ((ACTIONS as readonly string[]).includes(route)) {
    await serveAction(context, takes, route as Action, request, response)
  } else if (route === '' || route === 'index.html') {
    // Never framed: another site could otherwise lay the panel under its own page and have the
    // developer click "pick" or "new take" in it (clickjacking).
    response
      .writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-cache',
        'X-Frame-Options': 'DENY',
        'Content-Security-Policy': "frame-ancestors 'none'",
      })
      .end(PANEL_HTML)
  } else if (route === 'state.json') {
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' }).end(JSON.stringify(panel.state()))
  } else if (route === 'events') {
    panel.open(request, response)
  } else if (route.startsWith('file/')) {
    await serveInput(context, decodeURIComponent(route.slice('file/'.length)), response)
  } else if (route.startsWith('take-image/')) {
    await serveTakeImage(context, takes, route.slice('take-image/'.length), response)
  } else {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found')
  }
}

/** A job's image: the output once ready, the local provider's placeholder (same size) until then. */
async function serveImage(context: DevContext, rest: string, response: ServerResponse): Promise<void> {
  const match = /^([^/]+)\/(\d+)\.(\w+)$/.exec(rest)
  await context.whenStarted().catch(() => {})
  const { session, project } = context
  const view = match ? session?.jobs().find((job) => job.id === decodeURIComponent(match[1] as string)) : undefined
  const index = Number(match?.[2])
  if (!session || !project || !view || !match || index >= view.n) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${TAG} no such image: ${rest}`)
    return
  }
  const ready = view.images[index]
  let bytes: Uint8Array | undefined
  if (ready) bytes = await readFile(join(project.root, ready.path)).catch(() => undefined)
  // Not ready (or its file is gone for a moment): the local provider's rendering, same size.
  bytes ??= await session.placeholder(view.id, index)
  response
    .writeHead(200, {
      'Content-Type': CONTENT_TYPES[ready?.format ?? view.format] ?? 'application/octet-stream',
      'Content-Length': bytes.byteLength,
      'Cache-Control': 'no-cache',
      'X-Images-Edit': ready ? 'ready' : 'placeholder',
    })
    .end(bytes)
}

/** Serves a ref or mask to the panel — only files the manifest lists, nothing else under the root. */
async function serveInput(context: DevContext, path: string, response: ServerResponse): Promise<void> {
  await context.whenStarted().catch(() => {})
  const { session, project } = context
  const listed = new Set(session?.jobs().flatMap((job) => [...job.refs, ...(job.mask ? [job.mask] : [])].flatMap((input) => (input.path ? [input.path] : []))))
  const type = INPUT_TYPES[path.slice(path.lastIndexOf('.')).toLowerCase()]
  if (!project || !listed.has(path) || !type) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${TAG} not a ref or mask of the manifest: ${path}`)
    return
  }
  const bytes = await readFile(join(project.root, path))
  response.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.byteLength, 'Cache-Control': 'no-cache' }).end(bytes)
}

/**
 * Serves an image of a take to the panel by its sha256 — only one that a listed take of a manifest
 * job names (never a path, never any other object of the store): from the store (verified), else
 * from the output file that shows it on a fresh clone, when its bytes still have that sha256.
 */
async function serveTakeImage(context: DevContext, takes: PanelTakes, sha256: string, response: ServerResponse): Promise<void> {
  await context.whenStarted().catch(() => {})
  const { project } = context
  const listed = /^[0-9a-f]{64}$/.test(sha256) ? await takes.image(sha256) : undefined
  let bytes = listed?.stored && project ? await project.store.getObject(sha256) : undefined
  if (!bytes && listed?.file && project && isInside(project.root, join(project.root, listed.file))) {
    const file = await readFile(join(project.root, listed.file)).catch(() => undefined)
    if (file && createHash('sha256').update(file).digest('hex') === sha256) bytes = file
  }
  if (!listed || !bytes) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${TAG} not an image of a take of the manifest's jobs: ${sha256}`)
    return
  }
  response
    .writeHead(200, {
      'Content-Type': CONTENT_TYPES[listed.format] ?? 'application/octet-stream',
      'Content-Length': bytes.byteLength,
      // Content-addressed: the same URL always has the same bytes.
      'Cache-Control': 'private, max-age=31536000, immutable',
    })
    .end(bytes)
}
