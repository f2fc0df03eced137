import type { JobView, RunEvent, SessionEvent } from '@images-edit/core'
import { CLOSE_GRACE_MS, type DevContext } from './dev-context.js'
import { describeError, displayPath, formatDiagnosticLine, formatDiagnostics, locationOf, TAG } from './messages.js'

type Location = { file: string; line: number; column: number }

/**
 * What the person running `vite dev` is told, in the terminal and in Vite's error overlay: the
 * start, manifest errors and warnings, each job's progress, failures and billing, the shutdown.
 * It also keeps the context's record of errors and warnings the panel shows.
 */
export class DevReporter {
  /** Each job's last reported phase, images and error, so only changes are news. */
  private readonly lastPhase = new Map<string, { phase: string; version: string; error?: string }>()

  constructor(private readonly context: DevContext) {}

  /** The project could not open: no session runs. */
  startFailed(error: unknown): void {
    this.context.startError = error
    this.context.sessionError = describeError(error, this.context.root)
    this.log('error', this.context.sessionError)
  }

  /** The first plan is made: how many jobs, how many are ready. */
  started(jobs: readonly JobView[]): void {
    const manifest = this.context.project ? displayPath(this.context.project.manifestPath, this.context.root) : ''
    const waiting = jobs.filter((job) => job.phase !== 'ready').length
    const rest = waiting > 0 ? `, ${waiting} being made (placeholders until then)` : ''
    this.log('info', `${jobs.length} job${jobs.length === 1 ? '' : 's'} in ${manifest}: ${jobs.length - waiting} ready${rest}`)
  }

  /** One engine event, told in the terminal (and the overlay for errors). */
  report(event: SessionEvent): void {
    switch (event.type) {
      case 'manifest:error':
        this.manifestError(event.diagnostics)
        break
      case 'manifest:ok':
        this.manifestOk(event.warnings)
        break
      case 'job':
        this.job(event.job)
        break
      case 'run':
        this.run(event.event)
        break
      case 'error':
        this.context.sessionError = event.message
        this.log('error', event.message)
        this.overlay(`images-edit: ${event.message}`)
        break
      default:
        break
    }
  }

  private manifestError(diagnostics: Extract<SessionEvent, { type: 'manifest:error' }>['diagnostics']): void {
    this.context.manifestErrors = diagnostics
    const text = formatDiagnostics(diagnostics, this.context.root)
    this.log('error', `the manifest has errors; keeping the last good state until they are fixed:\n${text}`)
    this.overlay(`images-edit: the manifest has errors\n\n${text}`, locationOf(diagnostics))
  }

  private manifestOk(diagnostics: Extract<SessionEvent, { type: 'manifest:ok' }>['warnings']): void {
    const { context } = this
    const wasBroken = context.manifestErrors !== undefined
    context.manifestErrors = undefined
    const warnings = diagnostics.filter((item) => item.severity === 'warning').map((item) => formatDiagnosticLine(item, context.root))
    for (const warning of warnings) if (!context.warnings.includes(warning)) this.log('warn', warning)
    context.warnings = warnings
    if (wasBroken || context.failedLoads) {
      // Modules that failed to load are not in the graph: only a reload retries them. Otherwise an
      // empty update is enough to clear the overlay.
      context.server.hot.send(context.failedLoads ? { type: 'full-reload', path: '*' } : { type: 'update', updates: [] })
      context.failedLoads = false
    }
  }

  private run(event: RunEvent): void {
    if (event.type === 'warning') this.log('warn', `${event.id ? `${event.id}: ` : ''}${event.message}`)
    if (event.type === 'run:stopping') {
      const calls = event.inFlight.map((call) => `${call.id} (${call.provider} ${call.stage})`).join(', ')
      this.log('warn', `closing: waiting up to ${CLOSE_GRACE_MS / 1000}s for paid calls already sent, so they are not paid again: ${calls}`)
    }
    if (event.type === 'job:failed' && event.error.billed) {
      this.log('warn', `${event.id}: ${event.error.billed === 'yes' ? 'billed' : 'may have been billed'} — ${event.error.message}`)
    }
  }

  private job(view: JobView): void {
    const previous = this.lastPhase.get(view.id)
    const version = view.images.map((image) => image.sha256).join(',')
    this.lastPhase.set(view.id, { phase: view.phase, version, ...(view.error ? { error: view.error } : {}) })
    if (previous?.phase === view.phase && previous.version === version && previous.error === view.error) return
    const label = view.id === view.recipe ? view.id : `${view.recipe} (${view.id})`
    switch (view.phase) {
      case 'running':
        if (previous?.phase !== 'running') this.log('info', `${label}: generating on ${view.provider}…`)
        break
      case 'ready':
        // Jobs that were already up to date at startup are not news.
        if (previous && previous.phase !== 'ready') {
          const sizes = [...new Set(view.images.map((image) => `${image.width}×${image.height}`))].join(', ')
          const count = `${view.images.length} image${view.images.length === 1 ? '' : 's'}`
          this.log('info', `${label}: ready (${count}, ${sizes}${view.local ? ', local placeholder' : ''})`)
        }
        break
      case 'failed': {
        const message = `${label} failed on ${view.provider}: ${view.error ?? 'unknown error'}`
        this.log('error', message)
        this.overlay(`images-edit: recipe ${message}`, this.recipeLocation(view))
        break
      }
      case 'blocked':
        this.log('warn', `${label} is blocked: ${view.reasons.join('; ')}`)
        break
      default:
        break
    }
  }

  /** Where a recipe is written in the manifest, for the overlay. */
  private recipeLocation(view: JobView): Location | undefined {
    const manifest = this.context.session?.manifest
    const job = manifest?.jobs.find((item) => item.id === view.id)
    if (!manifest || !job) return undefined
    const diagnostic = manifest.source.diagnostic('error', 'job/failed', job.docPath, view.error ?? '')
    return { file: diagnostic.file, line: diagnostic.line, column: diagnostic.column }
  }

  /** Shows Vite's error overlay, pointing at the manifest (and a line of it when known). */
  private overlay(message: string, loc?: Location): void {
    const { project } = this.context
    this.context.server.hot.send({
      type: 'error',
      err: { message, stack: '', plugin: 'images-edit', ...(project ? { id: project.manifestPath } : {}), ...(loc ? { loc } : {}) },
    })
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.context.logger[level](`${TAG} ${message}`, { timestamp: true })
  }
}
