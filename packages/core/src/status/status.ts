// `status`: the state of every job, read off its plan (no image bytes read when nothing changed).
import type { Plan, PlannedJob } from '../plan/plan.js'

/** State of one job as `status` reports it. */
export interface JobStatus {
  id: string
  recipe: string
  state: 'up-to-date' | 'stale' | 'missing-output' | 'modified' | 'blocked'
  reasons: string[]
  outputs: string[]
  provider: string
}

/** Per job: up to date, stale (why), missing output, modified by hand, or blocked. */
export function jobStatuses(plan: Plan): JobStatus[] {
  return plan.jobs.map(jobStatus)
}

function jobStatus(item: PlannedJob): JobStatus {
  const base = { id: item.job.id, recipe: item.job.recipe, outputs: item.job.outputs, provider: item.job.provider, reasons: item.reasons }
  const edited = item.outputs.some((output) => output.action === 'edited')
  if (item.status === 'blocked') return { ...base, state: 'blocked' }
  if (item.status === 'generate') return { ...base, state: 'stale' }
  if (item.status === 'restore') return { ...base, state: item.locked?.key === item.job.key ? 'missing-output' : 'stale' }
  if (edited) return { ...base, state: 'modified' }
  if (item.lockChanges)
    return { ...base, state: 'stale', reasons: item.reasons.length > 0 ? item.reasons : ['the lock entry is out of date (build to update it, at no cost)'] }
  return { ...base, state: 'up-to-date' }
}
