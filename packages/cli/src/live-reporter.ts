import type { Colors } from 'picocolors/types.js'
import { createPlainReporter, type Output, type Reporter, seconds, type WarningOptions } from './reporters.js'

/** A job being worked on, as its line of the live view shows it. */
interface Active {
  id: string
  provider: string
  stage: string
  percent?: number
  started: number
}

/** The counts the overall bar shows. */
interface Tally {
  total: number
  finished: number
  upToDate: number
  restoring: number
  failed: number
  generating: number
  started: number
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/** One frame of the live view: a line per active job, then the overall bar. */
function liveFrame(active: Iterable<Active>, tally: Tally, spinner: string, c: Colors): string {
  const lines: string[] = []
  for (const job of active) {
    const elapsed = seconds(Date.now() - job.started)
    lines.push(
      `${c.cyan(spinner)} ${job.id.padEnd(24)} ${c.dim(job.provider.padEnd(7))} ${job.stage}${job.percent !== undefined ? ` ${job.percent}%` : ''} ${c.dim(elapsed)}`,
    )
  }
  const { finished, failed, generating, upToDate, restoring, total } = tally
  const width = 24
  const done = finished + failed
  const filled = generating === 0 ? width : Math.round((done / generating) * width)
  const elapsedMs = Date.now() - tally.started
  const eta = done > 0 && done < generating ? ` · ETA ${seconds((elapsedMs / done) * (generating - done))}` : ''
  lines.push(
    `${c.green('█'.repeat(filled))}${c.dim('░'.repeat(width - filled))} ${done}/${generating} generated · ${upToDate} up to date · ${restoring} restored · ${failed ? c.red(`${failed} failed`) : '0 failed'} · ${total} jobs${eta}`,
  )
  return lines.join('\n')
}

/** A terminal: a live view with one line per active job and an overall bar; finished jobs scroll above it. */
export async function createLiveReporter(output: Output, warnings: WarningOptions = {}): Promise<Reporter> {
  // Loaded only for a terminal: pipes and CI never pay for the terminal-width machinery.
  const { createLogUpdate } = await import('log-update')
  const render = createLogUpdate(output.out as NodeJS.WriteStream, { showCursor: false })
  const plain = createPlainReporter({ ...output, verbose: false }, warnings)
  const active = new Map<string, Active>()
  const tally: Tally = { total: 0, finished: 0, upToDate: 0, restoring: 0, failed: 0, generating: 0, started: Date.now() }
  let frame = 0
  let planned = false
  const draw = () => {
    if (!planned) return
    frame = (frame + 1) % SPINNER.length
    render(liveFrame(active.values(), tally, SPINNER[frame] ?? '', output.colors))
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
          tally.total = event.total
          tally.upToDate = event.fresh
          tally.restoring = event.restore
          tally.generating = event.generate
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
          tally.finished++
          above(() => plain.event(event))
          break
        case 'job:failed':
          active.delete(event.id)
          tally.failed++
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
