import type { DevSession, Diagnostic, Project } from '@images-edit/core'
import type { ViteDevServer } from 'vite'

/** URL prefix of images served during dev: `/@images-edit/<job id>/<index>.<ext>?v=<version>`. */
export const IMAGE_PREFIX = '/@images-edit/'
/** URL of the dev panel. */
export const PANEL_PREFIX = '/__images-edit/'

/** How long the dev server's shutdown waits for paid calls already sent before abandoning them. */
export const CLOSE_GRACE_MS = 60_000

/** What the dev server needs from the plugin's options. */
export interface DevOptions {
  openProject: () => Promise<Project>
  /** Only when set explicitly; otherwise core's rule applies (frozen exactly when CI is set). */
  frozen: boolean | undefined
  /**
   * Start the session at the first module or image request, not with the server, and watch
   * nothing: for servers a framework or test runner starts for itself, which run frozen.
   */
  lazy?: boolean
  dts: boolean | string | undefined
  panel: boolean
}

/**
 * What every part of one dev server shares: Vite's server, the plugin's options, the engine
 * session once it started, and what the user is being told about (manifest errors, warnings, a
 * problem outside any recipe). Each part reads it; the bridge and the reporter write it.
 */
export class DevContext {
  /** Set once the project opened (undefined while starting, or when it could not open). */
  project: Project | undefined
  session: DevSession | undefined
  /** The start itself, for parts that must wait for the first plan (a lazy bridge starts at the first wait). */
  whenStarted: () => Promise<void> = () => Promise.resolve()
  /** Why the project could not open, once it failed. */
  startError: unknown
  /** The errors of the manifest on disk while it is broken (the last good state is kept). */
  manifestErrors: Diagnostic[] | undefined
  /** The manifest's warnings, as last logged (each is logged once). */
  warnings: string[] = []
  /** A module failed to load: it is not in Vite's graph, and only a full reload retries it. */
  failedLoads = false
  /** A problem outside any recipe (no manifest, an internal error), for the panel. */
  sessionError: string | undefined
  closed = false

  constructor(
    readonly server: ViteDevServer,
    readonly options: DevOptions,
  ) {}

  /** Vite's root: paths are shown relative to it. */
  get root(): string {
    return this.server.config.root
  }

  /** Vite's `base`, always ending in `/`. */
  get base(): string {
    const { base } = this.server.config
    return base.endsWith('/') ? base : `${base}/`
  }

  get logger() {
    return this.server.config.logger
  }
}
