import { ImagesEditError } from '../errors.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { Plan } from '../plan/plan.js'
import type { Project } from '../project.js'

/** Why a job that needs generating waits in a frozen session. */
export const FROZEN_REASON =
  'frozen (CI is set, or frozen was asked for): nothing is generated here. Build it where paying is intended (images-edit build --no-frozen, or imagesEdit({ frozen: false }) in Vite), then commit the lock and the outputs'

/**
 * The plan of a dev session's refresh. Frozen (a CI dev server, `watch` in CI), nothing is built
 * for jobs that need generating, so what the team store has is fetched first and restored instead
 * of left a placeholder; a team store that cannot be asked is reported (`onRemoteError`) and leaves
 * them placeholders. Unfrozen, the build of those jobs reads through the team store itself before paying.
 */
export async function refreshPlan(
  project: Project,
  options: { loaded: LoadedManifest; only: readonly string[]; frozen: boolean },
  onRemoteError: (message: string) => void,
): Promise<Plan> {
  const { loaded, only, frozen } = options
  if (!frozen) return (await project.plan({ loaded, only })).plan
  try {
    return (await project.plan({ loaded, only, readThrough: true })).plan
  } catch (error) {
    if (!(ImagesEditError.is(error) && error.code === 'REMOTE')) throw error
    onRemoteError(error.message)
    return (await project.plan({ loaded, only })).plan
  }
}
