import { type JobPhase, type JobTakes, type JobView, takeCostText } from '@images-edit/core'

/** One image slot of a job in the panel: the real output when ready, else its placeholder. */
export interface PanelOutput {
  path: string
  src: string
  width?: number
  height?: number
  ready: boolean
}

/** One image of a take: a candidate, picked for some outputs or not. */
export interface PanelCandidate {
  /** 1-based within its take. */
  image: number
  src: string
  sha256: string
  width: number
  height: number
  format: string
  /** Outputs that show it now. */
  outputs: string[]
}

/** One take of a job. */
export interface PanelTake {
  take: number
  at?: string
  provider: string
  model: string
  current: boolean
  /** What its calls were estimated to cost when they ran: `≈ $0.51`, `free`, or why it is not known. */
  cost: string
  /** Only the lock knows it (a fresh clone): its picked images, none of its other candidates. */
  lockOnly: boolean
  candidates: PanelCandidate[]
}

/** What the panel needs to review a job: its takes, and which image of which take each output is. */
export interface PanelReview {
  take: number
  /** 1-based image of the current take per output. */
  picks: number[]
  candidates: number
  paid: boolean
  takes: PanelTake[]
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
  /** Its takes and candidates, once listed. */
  review?: PanelReview
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
    takes: (view: JobView) => JobTakes | undefined
    takeImageUrl: (sha256: string) => string
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
          ...(image ? { width: count(image.width), height: count(image.height) } : view.size ? { width: view.size.width, height: view.size.height } : {}),
        }
      }),
      ...reviewOf(view, context.takes(view), context.takeImageUrl),
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

/** A job's takes as the panel shows them (nothing while they are not listed, or the listing is of another key). */
function reviewOf(view: JobView, takes: JobTakes | undefined, url: (sha256: string) => string): { review?: PanelReview } {
  if (!takes || takes.key !== view.key) return {}
  return {
    review: {
      take: count(takes.take),
      picks: takes.picks.map(count),
      candidates: count(takes.candidates),
      paid: takes.paid,
      takes: takes.takes.map((take) => ({
        take: count(take.take),
        ...(take.at ? { at: take.at } : {}),
        provider: take.provider,
        model: take.model,
        current: take.current,
        cost: takeCostText(take, takes.paid),
        lockOnly: take.lockOnly === true,
        candidates: take.images.map((image) => ({
          image: count(image.image),
          src: url(image.sha256),
          sha256: image.sha256,
          width: count(image.width),
          height: count(image.height),
          format: image.format,
          outputs: image.outputs,
        })),
      })),
    },
  }
}

/**
 * A number the panel's page writes into HTML, as a number. Sizes and take numbers come from the
 * lock and the store records, which a teammate's commit can carry: whatever they hold, only a
 * whole number reaches the page (a string there would be markup).
 */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : 0
}
