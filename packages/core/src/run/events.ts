import type { ProviderProgress } from '../providers/provider.js'

/** A job's failure, as events and summaries carry it (never a stack, never a secret). */
export interface JobError {
  code: string
  message: string
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
    }
  | { type: 'job:fresh'; id: string }
  | { type: 'job:restored'; id: string; outputs: string[] }
  | { type: 'job:blocked'; id: string; reasons: string[] }
  | { type: 'job:queued'; id: string; provider: string; newImages: number; reasons: string[] }
  | { type: 'job:started'; id: string; provider: string }
  | ({ type: 'job:progress'; id: string } & ProviderProgress)
  | { type: 'job:done'; id: string; provider: string; outputs: string[]; newImages: number; elapsedMs: number }
  | { type: 'job:failed'; id: string; provider: string; error: JobError; elapsedMs: number }
  | { type: 'warning'; id?: string; message: string }
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
