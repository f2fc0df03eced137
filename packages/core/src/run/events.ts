import type { CostSummary } from '../cost/estimate.js'
import type { Diagnostic } from '../diagnostics.js'
import type { ProviderProgress } from '../providers/provider.js'

/** A job's failure, as events and summaries carry it (never a stack, never a secret). */
export interface JobError {
  code: string
  message: string
  /**
   * Set when the failure concerns a paid call: `yes` — the service accepted and billed it but no
   * image was collected; `maybe` — the call was sent and its outcome is unknown. A rerun does not
   * repeat a `yes` call whose task id is journaled; a `maybe` one may be paid again.
   */
  billed?: 'yes' | 'maybe'
  /** The provider's task id, when there is one. */
  taskId?: string
}

/** A paid call the runner is waiting for while it stops. */
export interface InFlightCall {
  id: string
  provider: string
  /** `submit`/`generate`: the paid request itself; `download`: collecting what a synchronous call returned. */
  stage: 'submit' | 'generate' | 'download'
}

/**
 * Everything a run reports, in order. The CLI's live view, `--json`, the Vite logger and the
 * dev panel all consume these and nothing else.
 */
export type RunEvent =
  | {
      type: 'plan'
      total: number
      fresh: number
      restore: number
      generate: number
      blocked: number
      /** New images this run will make, and how many of them are paid. */
      newImages: number
      paidImages: number
      /** What the paid images are estimated to cost (output images only), and which have no known price. */
      cost: CostSummary
    }
  | { type: 'job:fresh'; id: string }
  | { type: 'job:restored'; id: string; outputs: string[] }
  | { type: 'job:blocked'; id: string; reasons: string[] }
  | { type: 'job:queued'; id: string; provider: string; newImages: number; reasons: string[] }
  | { type: 'job:started'; id: string; provider: string }
  | ({ type: 'job:progress'; id: string } & ProviderProgress)
  | { type: 'job:done'; id: string; provider: string; outputs: string[]; newImages: number; elapsedMs: number }
  | { type: 'job:failed'; id: string; provider: string; error: JobError; elapsedMs: number }
  | { type: 'warning'; id?: string; message: string /** Set for a manifest warning: where it is (adapters print `file:line:col`). */; diagnostic?: Diagnostic }
  /**
   * The run was asked to stop (first Ctrl-C): nothing new starts, and these paid calls, already
   * sent, are still being answered so their results or task ids are kept. Abandoning them
   * (second Ctrl-C) leaves them possibly billed.
   */
  | { type: 'run:stopping'; inFlight: InFlightCall[] }
  | {
      type: 'run:done'
      done: number
      fresh: number
      restored: number
      failed: number
      blocked: number
      newImages: number
      elapsedMs: number
      interrupted: boolean
    }

/** Receives run events. */
export type EventListener = (event: RunEvent) => void
