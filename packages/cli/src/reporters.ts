import { costText, type Diagnostic, MANIFEST_NAME, type RunEvent, unpricedLine } from '@images-edit/core'
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
              `plan: ${event.total} job${event.total === 1 ? '' : 's'} — ${event.fresh} up to date, ${event.restore} to restore, ${event.generate} to generate (${event.newImages} new image${event.newImages === 1 ? '' : 's'}, ${event.paidImages} paid${event.paidImages > 0 ? ` ${costText(event.cost)}` : ''})${event.blocked ? `, ${event.blocked} blocked` : ''}`,
            )
            for (const group of event.cost.unpriced) line(c.yellow(unpricedLine(group, warnings.manifestFile ?? MANIFEST_NAME)))
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
