// `status`: the state of every job, read off its plan (no image bytes read when nothing changed).
import type { Plan, PlannedJob } from '../plan/plan.js'

/** State of one job as `status` reports it. */
export interface JobStatus {
  id: string
  recipe: string
  state: 'up-to-date' | 'stale' | 'missing-output' | 'modified' | 'blocked'
  reasons: string[]
  outputs: string[]
  /**
   * Where each output's image is, in the order of `outputs`: `local` (the file, or the local
   * store, has it), `remote-only` (only the team store has it: `images-edit pull` restores it),
   * `missing` (neither: a build generates it), or `unknown` (the team store could not be asked).
   */
  where: OutputPlace[]
  provider: string
}

/** Where one output's image is (see {@link JobStatus.where}). */
export type OutputPlace = 'local' | 'remote-only' | 'missing' | 'unknown'

/**
 * What the team store said about the images jobs lack locally ({@link TeamRemote.locate}): per
 * job, per output (whether it has that output's image), or why it could not answer (for one job, or for all).
 */
export type RemoteAnswer = ReadonlyMap<PlannedJob, readonly boolean[] | Error> | Error | undefined

/**
 * Per job: up to date, stale (why), missing output, modified by hand, or blocked; and per output,
 * where its image is. `remote` is the team store's answer (undefined when there is none).
 */
export function jobStatuses(plan: Plan, remote?: RemoteAnswer): JobStatus[] {
  return plan.jobs.map((item) => jobStatus(item, places(item, remote)))
}

/** Where each output of a job is: local when its file is right or its image is stored here, else what the team store said. */
function places(item: PlannedJob, remote: RemoteAnswer): OutputPlace[] {
  const answer = remote instanceof Error ? remote : remote?.get(item)
  return item.job.outputs.map((_, index) => {
    const output = item.outputs.find((action) => action.index === index)
    if (output?.action === 'keep' || item.served[index]) return 'local'
    if (answer instanceof Error) return 'unknown'
    return answer?.[index] ? 'remote-only' : 'missing'
  })
}

function jobStatus(item: PlannedJob, where: OutputPlace[]): JobStatus {
  const base = { id: item.job.id, recipe: item.job.recipe, outputs: item.job.outputs, where, provider: item.job.provider, reasons: item.reasons }
  const edited = item.outputs.some((output) => output.action === 'edited')
  if (item.status === 'blocked') return { ...base, state: 'blocked' }
  if (item.status === 'generate') return { ...base, state: 'stale' }
  if (item.status === 'restore') return { ...base, state: item.locked?.key === item.job.key ? 'missing-output' : 'stale' }
  if (edited) return { ...base, state: 'modified' }
  if (item.lockChanges)
    return { ...base, state: 'stale', reasons: item.reasons.length > 0 ? item.reasons : ['the lock entry is out of date (build to update it, at no cost)'] }
  return { ...base, state: 'up-to-date' }
}
