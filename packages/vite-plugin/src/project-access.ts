import { resolve } from 'node:path'
import { MANIFEST_NAME, openProject, type Project } from '@images-edit/core'
import type { ResolvedConfig } from 'vite'
import type { ImagesEditPluginOptions } from './types.js'

/** How the plugin opens its project, and where its manifest is (both need Vite's resolved config). */
export interface ProjectAccess {
  config(): ResolvedConfig
  manifestPath(): string
  open(): Promise<Project>
}

/** The project of the plugin's options, opened in Vite's root (once Vite resolved its config). */
export function projectAccess(options: ImagesEditPluginOptions, config: () => ResolvedConfig): ProjectAccess {
  const manifestPath = () => resolve(config().root, options.manifest ?? MANIFEST_NAME)
  const open = (): Promise<Project> =>
    openProject({
      manifest: manifestPath(),
      cwd: config().root,
      ...(options.provider ? { providerOverride: options.provider } : {}),
      ...(options.providers ? { providers: options.providers } : {}),
      // Keys may come from the env option alone; the team store's variables (set by CI) come from
      // the process too, so passing only the keys never hides a team store.
      ...(options.env ? { env: options.env, remoteEnv: { ...process.env, ...options.env } } : {}),
      ...(options.remote === false ? { remote: false } : {}),
    })
  return { config, manifestPath, open }
}
