import type { Logger, ViteDevServer } from 'vite'
import { PANEL_PREFIX } from './dev-context.js'
import type { DevServerBridge } from './dev-server.js'

/**
 * Hooks a bridge into its Vite server: its middleware serves images and the panel, and closing the
 * server closes the bridge first (`detach` runs before, so nothing hands the closing bridge out).
 */
export function attachBridge(server: ViteDevServer, bridge: DevServerBridge, detach: () => void): void {
  const close = server.close.bind(server)
  server.close = async () => {
    detach()
    await bridge.close()
    return close()
  }
  server.middlewares.use(bridge.middleware)
}

/** Prints the panel's URL once, next to Vite's own URLs, or once listening for frameworks that print their own. */
export function announcePanel(server: ViteDevServer, logger: Logger): void {
  let printed = false
  const printPanel = (url: string | undefined) => {
    if (printed || !url) return
    printed = true
    logger.info(`  ➜  images-edit panel: ${new URL(PANEL_PREFIX.slice(1), url).href}`)
  }
  const printUrls = server.printUrls.bind(server)
  server.printUrls = () => {
    printUrls()
    printPanel(server.resolvedUrls?.local[0])
  }
  // Frameworks that print their own banner (Astro) never call printUrls: say it once listening,
  // after their banner.
  server.httpServer?.once('listening', () => {
    setTimeout(() => {
      const address = server.httpServer?.address()
      if (!address || typeof address !== 'object') return
      const host = address.family === 'IPv6' || address.family === (6 as unknown as string) ? `[${address.address}]` : address.address
      const reachable = host === '0.0.0.0' || host === '[::]' ? 'localhost' : host
      printPanel(server.resolvedUrls?.local[0] ?? `http://${reachable}:${address.port}${server.config.base}`)
    }, 250).unref()
  })
}
