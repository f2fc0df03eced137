import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { type DevContext, IMAGE_PREFIX, PANEL_PREFIX } from './dev-context.js'
import { TAG } from './messages.js'
import { PANEL_HTML } from './panel-page.js'
import type { PanelStream } from './panel-stream.js'

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' }
const INPUT_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' }

/** A Connect middleware, as Vite's `server.middlewares.use` takes it. */
export type Middleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void

/** Connect middleware: images, placeholders and the panel. Anything else goes to Vite. */
export function devMiddleware(context: DevContext, panel: PanelStream): Middleware {
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
      servePanel(context, panel, path.slice(PANEL_PREFIX.length), request, response).catch(next)
    } else {
      next()
    }
  }
}

/** The panel's routes: its page, its state, its event stream, and the refs and masks it shows. */
async function servePanel(context: DevContext, panel: PanelStream, route: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (route === '' || route === 'index.html') {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' }).end(PANEL_HTML)
  } else if (route === 'state.json') {
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' }).end(JSON.stringify(panel.state()))
  } else if (route === 'events') {
    panel.open(request, response)
  } else if (route.startsWith('file/')) {
    await serveInput(context, decodeURIComponent(route.slice('file/'.length)), response)
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
