import type { Diagnostic, RunEvent } from '@images-edit/core'
import type { Colors } from 'picocolors/types.js'

/** Turns run events into output. */
export interface Reporter {
  event(event: RunEvent): void
  /** Stops any live rendering; called before the summary is printed. */
  close(): void
}

/** How to write. */
export interface Output {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  err: NodeJS.WritableStream
  colors: Colors
  quiet: boolean
  verbose: boolean
}

/** `--json`: one event per line, exactly as the engine emitted it. */
export function createJsonReporter(output: Output): Reporter {
  return {
    event: (event) => output.out.write(`${JSON.stringify(event)}\n`),
    close: () => {},
  }
}

/** How manifest warnings in the event stream are shown. */
export interface WarningOptions {
  /** The manifest as shown to the user (relative path): a located warning reads `file:line:col: warning: …`, as errors do. */
  manifestFile?: string
  /** Warnings already printed in full (see {@link warningEventText}); their events are not printed again. */
  printed?: ReadonlySet<string>
}

/** The message of the `warning` event the engine emits for a manifest warning (`line:col message`). */
export function warningEventText(diagnostic: Diagnostic): string {
  return `${diagnostic.line}:${diagnostic.column} ${diagnostic.message}`
}

/** `812 B`, `12.3 KiB`, `4.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`
}

/** Not a terminal (CI, pipes): one plain line per state change. */
export function createPlainReporter(output: Output, warnings: WarningOptions = {}): Reporter {
  const { colors: c } = output
  const line = (text: string) => output.out.write(`${text}\n`)
  return {
    event(event) {
      switch (event.type) {
        case 'plan':
          if (!output.quiet) {
            line(
              `plan: ${event.total} job${event.total === 1 ? '' : 's'} — ${event.fresh} up to date, ${event.restore} to restore, ${event.generate} to generate (${event.newImages} new image${event.newImages === 1 ? '' : 's'}, ${event.paidImages} paid)${event.blocked ? `, ${event.blocked} blocked` : ''}`,
            )
          }
          break
        case 'job:fresh':
          if (output.verbose) line(`${c.dim('=')} ${event.id} up to date`)
          break
        case 'job:restored':
          if (!output.quiet) line(`${c.cyan('↺')} ${event.id} restored from the store (${event.outputs.join(', ')})`)
          break
        case 'job:blocked':
          line(`${c.yellow('!')} ${event.id} skipped: ${event.reasons.join('; ')}`)
          break
        case 'job:queued':
          if (!output.quiet)
            line(
              `${c.dim('·')} ${event.id} queued on ${event.provider}: ${event.newImages} image${event.newImages === 1 ? '' : 's'}${event.reasons.length ? ` (${event.reasons.join('; ')})` : ''}`,
            )
          break
        case 'job:progress':
          if (output.verbose || (event.note && event.stage !== 'downloading')) {
            line(`${c.dim('…')} ${event.id} ${event.stage}${event.percent !== undefined ? ` ${event.percent}%` : ''}${event.note ? ` — ${event.note}` : ''}`)
          }
          break
        case 'job:done':
          if (!output.quiet)
            line(`${c.green('✓')} ${event.id} (${event.provider}, ${event.newImages} new, ${seconds(event.elapsedMs)}) → ${event.outputs.join(', ')}`)
          break
        case 'job:failed':
          if (event.error.code === 'ABORTED' && !event.error.billed) line(`${c.yellow('■')} ${event.id} interrupted`)
          else line(`${c.red('✗')} ${event.id} failed: ${event.error.message}`)
          break
        case 'run:stopping':
          line(stoppingMessage(event.inFlight))
          break
        case 'warning': {
          if (output.quiet) break
          // A manifest warning without an id: shown like the manifest's errors, file:line:col first.
          const located = event.id ? undefined : /^(\d+):(\d+) ([\s\S]*)$/.exec(event.message)
          if (located && warnings.printed?.has(event.message)) break
          if (located && warnings.manifestFile) line(`${c.yellow(`${warnings.manifestFile}:${located[1]}:${located[2]}: warning:`)} ${located[3]}`)
          else line(`${c.yellow('warning')}${event.id ? ` ${event.id}` : ''}: ${event.message}`)
          break
        }
        case 'job:started':
        case 'run:done':
          break
      }
    },
    close: () => {},
  }
}

interface Active {
  id: string
  provider: string
  stage: string
  percent?: number
  started: number
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/** A terminal: a live view with one line per active job and an overall bar; finished jobs scroll above it. */
export async function createLiveReporter(output: Output, warnings: WarningOptions = {}): Promise<Reporter> {
  // Loaded only for a terminal: pipes and CI never pay for the terminal-width machinery.
  const { createLogUpdate } = await import('log-update')
  const { colors: c } = output
  const render = createLogUpdate(output.out as NodeJS.WriteStream, { showCursor: false })
  const plain = createPlainReporter({ ...output, verbose: false }, warnings)
  const active = new Map<string, Active>()
  let total = 0
  let finished = 0
  let upToDate = 0
  let restoring = 0
  let failed = 0
  let generating = 0
  const started = Date.now()
  let frame = 0
  let planned = false
  const draw = () => {
    if (!planned) return
    frame = (frame + 1) % SPINNER.length
    const lines: string[] = []
    for (const job of active.values()) {
      const elapsed = seconds(Date.now() - job.started)
      lines.push(
        `${c.cyan(SPINNER[frame] ?? '')} ${job.id.padEnd(24)} ${c.dim(job.provider.padEnd(7))} ${job.stage}${job.percent !== undefined ? ` ${job.percent}%` : ''} ${c.dim(elapsed)}`,
      )
    }
    const width = 24
    const done = finished + failed
    const filled = generating === 0 ? width : Math.round((done / generating) * width)
    const elapsedMs = Date.now() - started
    const eta = done > 0 && done < generating ? ` · ETA ${seconds((elapsedMs / done) * (generating - done))}` : ''
    lines.push(
      `${c.green('█'.repeat(filled))}${c.dim('░'.repeat(width - filled))} ${done}/${generating} generated · ${upToDate} up to date · ${restoring} restored · ${failed ? c.red(`${failed} failed`) : '0 failed'} · ${total} jobs${eta}`,
    )
    render(lines.join('\n'))
  }
  const timer = setInterval(draw, 100)
  timer.unref()
  const above = (fn: () => void) => {
    render.clear()
    fn()
    draw()
  }
  return {
    event(event) {
      switch (event.type) {
        case 'plan':
          planned = true
          total = event.total
          upToDate = event.fresh
          restoring = event.restore
          generating = event.generate
          above(() => plain.event(event))
          break
        case 'job:started':
          active.set(event.id, { id: event.id, provider: event.provider, stage: 'starting', started: Date.now() })
          break
        case 'job:progress': {
          const job = active.get(event.id)
          if (job) {
            job.stage = event.note ? `${event.stage} (${event.note})` : event.stage
            if (event.percent !== undefined) job.percent = event.percent
          }
          break
        }
        case 'job:done':
          active.delete(event.id)
          finished++
          above(() => plain.event(event))
          break
        case 'job:failed':
          active.delete(event.id)
          failed++
          above(() => plain.event(event))
          break
        case 'job:queued':
          break
        default:
          above(() => plain.event(event))
      }
    },
    close() {
      clearInterval(timer)
      render.clear()
      render.done()
    },
  }
}

/** What the first Ctrl-C waits for, and what a second one costs. */
export function stoppingMessage(inFlight: readonly { id: string; provider: string; stage: string }[]): string {
  const calls = inFlight.map((call) => `${call.id} (${call.provider} ${call.stage === 'download' ? 'result download' : call.stage})`).join(', ')
  return `stopping: nothing new starts; waiting for ${inFlight.length} paid call${inFlight.length === 1 ? '' : 's'} already sent to be answered, so ${inFlight.length === 1 ? 'it is' : 'they are'} not paid again: ${calls}. Press Ctrl-C again to abandon ${inFlight.length === 1 ? 'it' : 'them'} (${inFlight.length === 1 ? 'it' : 'they'} may then be billed with no result).`
}

/** `1.2s`, `3m04s`. */
export function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`
}
