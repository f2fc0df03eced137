import type { JobPhase, JobView } from '@images-edit/core'

/** One image slot of a job in the panel: the real output when ready, else its placeholder. */
export interface PanelOutput {
  path: string
  src: string
  width?: number
  height?: number
  ready: boolean
}

/** A job as the dev panel shows it. */
export interface PanelJob {
  id: string
  phase: JobPhase
  stage?: string
  percent?: number
  error?: string
  reasons: string[]
  provider: string
  model: string
  local: boolean
  prompt: string
  n: number
  format: string
  size?: { width: number; height: number }
  key: string
  refs: { source: string; url: string }[]
  mask?: { source: string; url: string }
  outputs: PanelOutput[]
  updatedAt: number
}

/** What `/__images-edit/state.json` and each server-sent `state` event carry. */
export interface PanelState {
  manifest: string
  /** Formatted manifest errors while the manifest on disk is broken (the last good state is shown). */
  manifestErrors?: string
  /** A problem outside any recipe (no manifest, an internal error). */
  error?: string
  warnings: string[]
  recipes: { id: string; jobs: PanelJob[] }[]
  counts: Record<JobPhase, number>
  at: number
}

/** Turns the session's job views into the panel's state. */
export function panelState(
  views: readonly JobView[],
  context: {
    manifest: string
    manifestErrors?: string
    error?: string
    warnings: string[]
    imageUrl: (view: JobView, index: number) => string
    fileUrl: (path: string) => string
  },
): PanelState {
  const recipes = new Map<string, PanelJob[]>()
  const counts: Record<JobPhase, number> = { ready: 0, running: 0, queued: 0, failed: 0, blocked: 0 }
  for (const view of views) {
    counts[view.phase]++
    const input = (item: { source: string; path?: string }) => ({ source: item.source, url: item.path ? context.fileUrl(item.path) : item.source })
    const job: PanelJob = {
      id: view.id,
      phase: view.phase,
      ...(view.stage ? { stage: view.stage } : {}),
      ...(view.percent !== undefined ? { percent: view.percent } : {}),
      ...(view.error ? { error: view.error } : {}),
      reasons: view.reasons,
      provider: view.provider,
      model: view.model,
      local: view.local,
      prompt: view.prompt,
      n: view.n,
      format: view.format,
      ...(view.size ? { size: view.size } : {}),
      key: view.key.slice(0, 12),
      refs: view.refs.map(input),
      ...(view.mask ? { mask: input(view.mask) } : {}),
      outputs: view.outputs.map((path, index) => {
        const image = view.images[index]
        return {
          path,
          src: context.imageUrl(view, index),
          ready: image !== undefined,
          ...(image ? { width: image.width, height: image.height } : view.size ? { width: view.size.width, height: view.size.height } : {}),
        }
      }),
      updatedAt: view.updatedAt,
    }
    const list = recipes.get(view.recipe) ?? []
    list.push(job)
    recipes.set(view.recipe, list)
  }
  return {
    manifest: context.manifest,
    ...(context.manifestErrors ? { manifestErrors: context.manifestErrors } : {}),
    ...(context.error ? { error: context.error } : {}),
    warnings: context.warnings,
    recipes: [...recipes.entries()].map(([id, jobs]) => ({ id, jobs })),
    counts,
    at: Date.now(),
  }
}
