import { DevSession, type Diagnostic, type Project } from '@images-edit/core'
import { type InputWatcher, watchInputs } from '../input-watcher.js'
import type { Output } from '../reporters.js'
import { journaledTaskLine } from '../wording.js'
import { WatchPrinter } from './watch-printer.js'

/** Options of {@link watchCommand}. */
export interface WatchCommandOptions {
  /** Only these recipe or job ids (all when empty). */
  recipes: readonly string[]
  /** As given on the command line; undefined lets core decide. */
  frozen: boolean | undefined
  json: boolean
  output: Output
  /** Paths are printed relative to this folder. */
  cwd: string
  /** Aborted on Ctrl-C: watching stops; paid calls already sent are still answered. */
  signal: AbortSignal
  /** Aborted on a second Ctrl-C: paid calls in flight are abandoned (reported as possibly billed). */
  abandon?: AbortSignal
  /** Prints located manifest problems (`file:line:col`), as the other commands do. */
  printDiagnostics: (diagnostics: readonly Diagnostic[], output: Output, cwd: string, strict: boolean) => void
  /** @default 50 */
  debounceMs?: number
}

/**
 * `images-edit watch`: an initial build, then a rebuild of exactly the jobs whose key changed on
 * every edit, until Ctrl-C. Resolves once stopped; throws only for a usage error at start (an
 * unknown recipe). An invalid manifest never ends it: the error is printed and the last good
 * manifest stays in force.
 */
export async function watchCommand(project: Project, options: WatchCommandOptions): Promise<void> {
  const printer = new WatchPrinter({ ...options, manifestPath: project.manifestPath })
  const session: DevSession = new DevSession(project, {
    onEvent: (event) => printer.event(event, session.manifest !== undefined),
    ...(options.frozen !== undefined ? { frozen: options.frozen } : {}),
    only: options.recipes,
  })
  const watcher: InputWatcher = watchInputs(session, {
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    onChange: async (paths) => {
      let result: { ok: boolean; started: string[] }
      try {
        result = await session.refresh()
      } catch (error) {
        // e.g. a recipe named on the command line was removed from the manifest.
        printer.error(error instanceof Error ? error.message : String(error))
        return
      }
      const watched = watcher.sync()
      if (!result.ok) return
      printer.changed(paths, result.started)
      printer.announce(watched)
    },
    onError: (error) => printer.watcherWarning(error),
  })

  let stopped = false
  try {
    // An unknown recipe on the command line is a usage error: it throws out of here (exit 2).
    await session.refresh()
    const watched = watcher.sync()
    await watcher.ready()
    // Also when the manifest is invalid: from here on, saving the fix is seen.
    printer.announce(watched)
    await aborted(options.signal)
    const inFlight = beginStopping(session, printer, options)
    await watcher.close()
    // Free work stops at once; paid calls already sent are answered and their task ids journaled,
    // so nothing paid is lost. A second Ctrl-C abandons them.
    await session.close({ abort: true, ...(options.abandon ? { abandon: options.abandon } : {}) })
    stopped = true
    await reportStopped(project, inFlight, printer, options)
  } finally {
    if (!stopped) {
      await watcher.close()
      await session.close({ abort: true })
    }
    printer.close()
  }
}

/** Resolves when the signal is aborted (at once if it already is). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((done) => {
    if (signal.aborted) done()
    else signal.addEventListener('abort', () => done(), { once: true })
  })
}

/** After Ctrl-C: from here on finished jobs are counted; says what is in flight. Returns those jobs. */
function beginStopping(session: DevSession, printer: WatchPrinter, options: WatchCommandOptions): string[] {
  printer.stopping = true
  const inFlight = session.inFlight()
  if (inFlight.length > 0 && !options.json) {
    options.output.err.write(
      `stopping: ${inFlight.length} job${inFlight.length === 1 ? '' : 's'} in flight (${inFlight.join(', ')}); paid calls already sent are answered first — Ctrl-C again to abandon them\n`,
    )
  }
  return inFlight
}

/** Once stopped: which of the jobs in flight finished, which were interrupted, and the paid tasks still journaled. */
async function reportStopped(project: Project, inFlight: readonly string[], printer: WatchPrinter, options: WatchCommandOptions): Promise<void> {
  const { output, json } = options
  const journaled = await project.inFlight()
  const finished = inFlight.filter((id) => printer.finishedWhileStopping.has(id))
  const interrupted = inFlight.filter((id) => !printer.finishedWhileStopping.has(id))
  if (json) {
    printer.emitJson({ type: 'stopped', inFlight, finished, interrupted, journaled })
    return
  }
  const parts = [
    ...(finished.length ? [`${finished.length} finished (${finished.join(', ')})`] : []),
    ...(interrupted.length ? [`${interrupted.length} interrupted (${interrupted.join(', ')})`] : []),
  ]
  output.err.write(
    inFlight.length === 0
      ? 'stopped watching; nothing was in flight.\n'
      : `stopped watching; ${inFlight.length} job${inFlight.length === 1 ? ' was' : 's were'} in flight: ${parts.join(', ')}.\n`,
  )
  if (journaled.length > 0) {
    output.err.write(`${journaled.length} paid task${journaled.length === 1 ? ' is' : 's are'} still running at the provider and journaled (not paid again):\n`)
    for (const entry of journaled) output.err.write(journaledTaskLine(entry))
  }
  if (interrupted.length > 0 || journaled.length > 0) output.err.write('Rerun `images-edit build` (or `images-edit watch`) to collect the rest.\n')
}
