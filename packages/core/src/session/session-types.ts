import type { Diagnostic } from '../diagnostics.js'
import type { BuildResult } from '../project.js'
import type { RunEvent } from '../run/events.js'
import type { JobView } from './job-view.js'

/** What a session reports. */
export type SessionEvent =
  | { type: 'manifest:error'; diagnostics: Diagnostic[] }
  | { type: 'manifest:ok'; jobs: number; warnings: Diagnostic[] }
  | { type: 'job'; job: JobView }
  | { type: 'run'; event: RunEvent }
  | { type: 'build:done'; result: BuildResult }
  | { type: 'error'; message: string }

/** Options of `DevSession`. */
export interface DevSessionOptions {
  onEvent?: (event: SessionEvent) => void
  /** Refuse to generate; restores still run. @default frozen exactly when `CI` is set (`resolveFrozen`) */
  frozen?: boolean
  /** Only these recipe or job ids. */
  only?: readonly string[]
}
