import { isAbsolute, relative } from 'node:path'
import type { BuildResult, Diagnostic, SessionEvent, WatchedPaths } from '@images-edit/core'
import { createJsonReporter, createPlainReporter, type Output, type Reporter, warningEventText } from '../reporters.js'

/** What the watch printer needs to know. */
export interface WatchPrinterOptions {
  json: boolean
  output: Output
  /** Paths are printed relative to this folder. */
  cwd: string
  manifestPath: string
  /** Prints located manifest problems (`file:line:col`), as the other commands do. */
  printDiagnostics: (diagnostics: readonly Diagnostic[], output: Output, cwd: string, strict: boolean) => void
}

/**
 * How `images-edit watch` speaks: session events as lines (or `--json` lines), each manifest
 * warning and each blocked reason said once, and the "watching …" line.
 */
export class WatchPrinter {
  /** Set once Ctrl-C was pressed: jobs finishing from then on are counted in {@link finishedWhileStopping}. */
  stopping = false
  readonly finishedWhileStopping = new Set<string>()
  private readonly reporter: Reporter
  /** The manifest's current warnings, each printed in full when it first appeared. */
  private readonly shownWarnings = new Set<string>()
  private readonly blockedSaid = new Map<string, string>()

  constructor(private readonly options: WatchPrinterOptions) {
    const { json, output } = options
    this.reporter = json
      ? createJsonReporter(output)
      : createPlainReporter(output, { manifestFile: this.rel(options.manifestPath), printed: this.shownWarnings })
  }

  /** A path as printed: relative to the working folder. */
  rel(path: string): string {
    return isAbsolute(path) ? relative(this.options.cwd, path) || '.' : path
  }

  /** A line on stdout, unless `--quiet`. */
  line(text: string): void {
    if (!this.options.output.quiet) this.options.output.out.write(`${text}\n`)
  }

  /** One `--json` line. */
  emitJson(event: Record<string, unknown>): void {
    this.options.output.out.write(`${JSON.stringify(event)}\n`)
  }

  /** An error: a `--json` line when asked, and `error: …` on stderr. */
  error(message: string): void {
    if (this.options.json) this.emitJson({ type: 'error', message })
    this.options.output.err.write(`${this.options.output.colors.red('error:')} ${message}\n`)
  }

  /** A watcher error (a folder that cannot be read); watching goes on. */
  watcherWarning(error: Error): void {
    if (this.options.json) this.emitJson({ type: 'warning', message: `watcher: ${error.message}` })
    else this.options.output.err.write(`${this.options.output.colors.yellow('warning:')} watcher: ${error.message}\n`)
  }

  /** What is being watched now. */
  announce(watched: WatchedPaths): void {
    if (this.options.json) {
      this.emitJson({ type: 'watching', files: watched.files.map((path) => this.rel(path)), folders: watched.folders.map((path) => this.rel(path)) })
      return
    }
    const files = `${watched.files.length} file${watched.files.length === 1 ? '' : 's'}`
    const folders = watched.folders.length ? ` and ${watched.folders.length} folder${watched.folders.length === 1 ? '' : 's'}` : ''
    this.line(this.options.output.colors.dim(`watching ${files}${folders} for changes (Ctrl-C to stop)…`))
  }

  /** Files changed and the session refreshed: what reruns. */
  changed(paths: readonly string[], started: readonly string[]): void {
    const { colors: c } = this.options.output
    if (this.options.json) {
      this.emitJson({ type: 'change', paths: paths.map((path) => this.rel(path)), rerun: started })
      return
    }
    const what = paths.map((path) => this.rel(path)).join(', ')
    this.line(started.length ? `${c.cyan('↻')} ${what} changed → rerunning ${started.join(', ')}` : `${c.dim('=')} ${what} changed → nothing to rerun`)
  }

  /** Prints one dev session event; `hasManifest` tells whether a last good manifest stays in force. */
  event(event: SessionEvent, hasManifest: boolean): void {
    const { json, output, cwd } = this.options
    const { colors: c } = output
    switch (event.type) {
      case 'run':
        // Flattened, so `watch --json` lines read like `build --json` lines.
        this.reporter.event(event.event)
        if (this.stopping && (event.event.type === 'job:done' || event.event.type === 'job:restored')) this.finishedWhileStopping.add(event.event.id)
        return
      case 'manifest:error':
        if (json) this.emitJson(event)
        this.options.printDiagnostics(event.diagnostics, output, cwd, false)
        output.err.write(
          hasManifest ? `${c.yellow('keeping the last good manifest;')} fix it and save\n` : `${c.yellow('waiting for a valid manifest;')} fix it and save\n`,
        )
        return
      case 'manifest:ok':
        if (json) this.emitJson(event)
        else this.manifestWarnings(event.warnings)
        return
      case 'job':
        if (json) this.emitJson(event)
        else this.blocked(event.job)
        return
      case 'build:done':
        if (json) this.emitJson({ type: 'build:done', ...summarize(event.result) })
        else output.out.write(`${describeBuild(event.result, output, (path) => this.rel(path))}\n`)
        return
      case 'error':
        if (json) this.emitJson(event)
        output.err.write(`${c.red('error:')} ${event.message}\n`)
        return
    }
  }

  /** Stops the run reporter. */
  close(): void {
    this.reporter.close()
  }

  /**
   * A warning is printed as errors are (file:line:col, the line, the fix) when it first appears;
   * the build's `warning` events repeating it are not printed again.
   */
  private manifestWarnings(diagnostics: readonly Diagnostic[]): void {
    const warnings = diagnostics.filter((item) => item.severity === 'warning')
    const appeared = warnings.filter((item) => !this.shownWarnings.has(warningEventText(item)))
    this.shownWarnings.clear()
    for (const item of warnings) this.shownWarnings.add(warningEventText(item))
    if (appeared.length > 0 && !this.options.output.quiet) this.options.printDiagnostics(appeared, this.options.output, this.options.cwd, false)
  }

  /** A job that cannot run (frozen in CI, an edited output…) says why, once per reason. */
  private blocked(job: { id: string; phase: string; reasons: readonly string[] }): void {
    const { output } = this.options
    const said = job.phase === 'blocked' ? job.reasons.join('; ') : undefined
    if (said && this.blockedSaid.get(job.id) !== said && !output.quiet) output.out.write(`${output.colors.yellow('!')} ${job.id} blocked: ${said}\n`)
    if (said) this.blockedSaid.set(job.id, said)
    else this.blockedSaid.delete(job.id)
  }
}

function summarize(result: BuildResult) {
  return {
    done: result.done,
    restored: result.restored,
    fresh: result.fresh,
    failed: result.failed,
    blocked: result.blocked,
    notStarted: result.notStarted,
    interrupted: result.interrupted,
  }
}

function describeBuild(result: BuildResult, output: Output, rel: (path: string) => string): string {
  const { colors: c } = output
  const parts = [
    `${result.done.length} generated`,
    `${result.restored.length} restored`,
    result.failed.length ? c.red(`${result.failed.length} failed`) : '0 failed',
    ...(result.blocked.length ? [c.yellow(`${result.blocked.length} blocked`)] : []),
    ...(result.notStarted.length ? [c.yellow(`${result.notStarted.length} interrupted`)] : []),
  ]
  return `${parts.join(', ')} · outputs in ${rel(result.loaded.outDir)}/`
}
