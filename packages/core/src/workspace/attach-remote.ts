// Which team store a project talks to: `remote:` in the manifest or IMAGES_EDIT_REMOTE (with `.env`), unless switched off.
import { join } from 'node:path'
import { ImagesEditError } from '../errors.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import { readDotEnv } from '../providers/config.js'
import { type RemoteConfig, remoteUrl, resolveRemoteConfig } from '../remote/remote-config.js'
import { TeamRemote } from '../remote/team-remote.js'
import type { Workspace } from './workspace.js'

/** What the project was opened with that decides the team store. */
export interface RemoteChoice {
  /** false: no team store (`--no-remote`). */
  remote?: boolean
  remoteEnv?: NodeJS.ProcessEnv
  env?: NodeJS.ProcessEnv
}

/** Sets `workspace.remote` from the manifest and the environment (unless `remote: false`); whether there is one. */
export async function attachRemote(workspace: Workspace, choice: RemoteChoice, loaded: LoadedManifest): Promise<boolean> {
  const settings = loaded.manifest?.remote
  const env = { ...(await readDotEnv(workspace.root)), ...(choice.remoteEnv ?? choice.env ?? process.env) }
  const url = remoteUrl(settings, env)
  if (choice.remote === false || !url) {
    workspace.remote = undefined
    return false
  }
  if (workspace.remote?.url !== url) {
    workspace.remote = new TeamRemote(url, () => resolveRemoteConfig(settings, env) as RemoteConfig, join(workspace.storeDir, 'push-queue'))
  }
  return true
}

/** The team store, for commands that only make sense with one (`push`, `pull`). */
export async function requireRemote(workspace: Workspace, choice: RemoteChoice, loaded: LoadedManifest): Promise<TeamRemote> {
  const remote = (await attachRemote(workspace, choice, loaded)) ? workspace.remote : undefined
  if (remote) return remote
  throw new ImagesEditError('USAGE', 'no team store is configured: set remote.url in images.edit.yaml, or IMAGES_EDIT_REMOTE (docs/team.md)')
}
