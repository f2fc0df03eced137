import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { type BuildResult, DevSession, type Diagnostic, type Project, type SessionEvent, TEMP_MARKER } from '@images-edit/core'
import { type FSWatcher, watch } from 'chokidar'
import { createJsonReporter, createPlainReporter, type Output, warningEventText } from './reporters.js'

/** Options of {@link watchInputs}. */
export interface InputWatcherOptions {
  /**
   * Quiet time after the last file event before `onChange` is called; a burst of events (an
   * editor's save, a folder of photos copied in) makes one call.
   * @default 50
   */
  debounceMs?: number
  /** Called with the absolute paths that changed since the last call; calls never overlap. */
  onChange: (paths: string[]) => Promise<void> | void
  /** A watcher error (a folder that cannot be read); watching goes on. */
  onError?: (error: Error) => void
}

/** What {@link watchInputs} watches right now. */
export interface WatchedPaths {
  /** Absolute paths: the manifest, every ref and mask. */
  files: string[]
  /** Absolute folders `each` globs look in (new files fan out). */
  folders: string[]
}

/** A chokidar watcher over a dev session's inputs. */
export interface InputWatcher {
  /** Watches exactly what the session's last good manifest reads; call after every refresh. */
  sync(): WatchedPaths
  /** Resolves once the first paths are being watched (events before that are lost). */
  ready(): Promise<void>
  /** Stops watching; a pending debounced change is dropped. */
  close(): Promise<void>
}

/**
 * Watches the manifest, every ref and mask, and the folders of `each` globs, and reports changes
 * debounced. Never reports images-edit's own writes: the output folder, every output file, the
 * store, the lock and temporary files are ignored, so a build cannot trigger itself.
 */
export function watchInputs(session: DevSession, options: InputWatcherOptions): InputWatcher {
  const { project } = session
  const debounceMs = options.debounceMs ?? 50
  let current: WatchedPaths = { files: [], folders: [] }
  let explicit = new Set<string>()
  // These only grow: a folder that once held outputs may still be written by a build in flight.
  const outDirs = new Set<string>()
  const outputs = new Set<string>()

  const ownWrite = (path: string): boolean => {
    const absolute = resolve(path)
    if (basename(absolute).includes(TEMP_MARKER)) return true
    if (absolute === project.lockPath || inside(project.storeDir, absolute)) return true
    if (outputs.has(absolute)) return true
    for (const folder of outDirs) if (inside(folder, absolute)) return true
    return false
  }
  const ignoredInFolders = (path: string): boolean => {
    if (ownWrite(path)) return true
    const name = basename(path)
    return (name === '.git' || name === 'node_modules') && !explicit.has(resolve(path))
  }
  const relevant = (path: string): boolean => {
    const absolute = resolve(path)
    return !ownWrite(absolute) && (explicit.has(absolute) || current.folders.some((folder) => inside(folder, absolute)))
  }

  let pending = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let queue: Promise<void> = Promise.resolve()
  let closed = false

  const flush = () => {
    timer = undefined
    const paths = [...pending].sort()
    pending = new Set()
    if (paths.length === 0 || closed) return
    // Serialized: changes arriving while a refresh runs wait for the next debounce and call.
    queue = queue.then(async () => {
      if (closed) return
      try {
        await options.onChange(paths)
      } catch (error) {
        options.onError?.(error instanceof Error ? error : new Error(String(error)))
      }
    })
  }
  const onEvent = (_event: string, path: string) => {
    if (closed || !relevant(path)) return
    pending.add(resolve(path))
    if (timer) clearTimeout(timer)
    timer = setTimeout(flush, debounceMs)
  }

  // Files are watched through their folders (one level deep), not one by one: a file deleted and
  // put back later (an editor's rename-over save, a branch switch) is seen again, which a watch
  // on the file itself does not guarantee. `each` folders are watched all the way down.
  const parents = createGrowingWatcher({ depth: 0, ignored: ownWrite }, onEvent, options.onError)
  const folders = createGrowingWatcher({ ignored: ignoredInFolders }, onEvent, options.onError)

  return {
    sync() {
      const list = session.watchList()
      const root = project.root
      outDirs.add(session.manifest?.outDir ?? join(root, 'out'))
      // `out: .` would ignore the whole project; then only the output files themselves are ignored.
      outDirs.delete(root)
      for (const job of session.jobs()) for (const output of job.outputs) outputs.add(resolve(root, output))
      current = { files: list.files.map((path) => resolve(path)), folders: list.folders.map((path) => resolve(path)) }
      explicit = new Set(current.files)
      if (!closed) {
        parents.add(current.files.filter((path) => !ownWrite(path)).map((path) => dirname(path)))
        folders.add(current.folders.filter((path) => !ownWrite(path)))
      }
      return { files: [...current.files], folders: [...current.folders] }
    },
    ready: () => Promise.all([parents.ready(), folders.ready()]).then(() => {}),
    async close() {
      closed = true
      if (timer) clearTimeout(timer)
      await Promise.all([parents.close(), folders.close()])
      await queue
    },
  }
}

/**
 * One chokidar watcher whose paths are only ever added: events outside the current watch list
 * are dropped by the caller, and chokidar's `unwatch` would also hide a file that another
 * watched path still covers.
 */
function createGrowingWatcher(
  settings: { depth?: number; ignored: (path: string) => boolean },
  onEvent: (event: string, path: string) => void,
  onError: ((error: Error) => void) | undefined,
) {
  let watcher: FSWatcher | undefined
  let firstReady: Promise<void> = Promise.resolve()
  const added = new Set<string>()
  return {
    add(paths: readonly string[]) {
      const fresh = [...new Set(paths)].filter((path) => !added.has(path))
      if (fresh.length === 0) return
      for (const path of fresh) added.add(path)
      if (watcher) {
        watcher.add(fresh)
        return
      }
      const instance = watch(fresh, { ignoreInitial: true, persistent: true, ...settings })
      instance.on('all', onEvent)
      instance.on('error', (error) => onError?.(error instanceof Error ? error : new Error(String(error))))
      firstReady = new Promise((done) => instance.once('ready', () => done()))
      watcher = instance
    },
    /** Resolves once the paths of the first `add` are watched. */
    ready: () => firstReady,
    close: async () => {
      await watcher?.close()
    },
  }
}

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
  const { output, json, cwd } = options
  const { colors: c } = output
  const rel = (path: string) => (isAbsolute(path) ? relative(cwd, path) || '.' : path)
  // The manifest's current warnings, each printed in full when it first appeared.
  const shownWarnings = new Set<string>()
  const reporter = json ? createJsonReporter(output) : createPlainReporter(output, { manifestFile: rel(project.manifestPath), printed: shownWarnings })
  const line = (text: string) => {
    if (!output.quiet) output.out.write(`${text}\n`)
  }
  const emitJson = (event: Record<string, unknown>) => output.out.write(`${JSON.stringify(event)}\n`)

  const onSessionEvent = (event: SessionEvent) => {
    switch (event.type) {
      case 'run':
        // Flattened, so `watch --json` lines read like `build --json` lines.
        reporter.event(event.event)
        if (stopping && (event.event.type === 'job:done' || event.event.type === 'job:restored')) finishedWhileStopping.add(event.event.id)
        return
      case 'manifest:error':
        if (json) emitJson(event)
        options.printDiagnostics(event.diagnostics, output, cwd, false)
        output.err.write(
          session.manifest
            ? `${c.yellow('keeping the last good manifest;')} fix it and save\n`
            : `${c.yellow('waiting for a valid manifest;')} fix it and save\n`,
        )
        return
      case 'manifest:ok': {
        if (json) {
          emitJson(event)
          return
        }
        // A warning is printed as errors are (file:line:col, the line, the fix) when it first
        // appears; the build's `warning` events repeating it are not printed again.
        const warnings = event.warnings.filter((item) => item.severity === 'warning')
        const appeared = warnings.filter((item) => !shownWarnings.has(warningEventText(item)))
        shownWarnings.clear()
        for (const item of warnings) shownWarnings.add(warningEventText(item))
        if (appeared.length > 0 && !output.quiet) options.printDiagnostics(appeared, output, cwd, false)
        return
      }
      case 'job': {
        if (json) {
          emitJson(event)
          return
        }
        // A job that cannot run (frozen in CI, an edited output…) says why, once per reason.
        const { job } = event
        const said = job.phase === 'blocked' ? job.reasons.join('; ') : undefined
        if (said && blockedSaid.get(job.id) !== said && !output.quiet) output.out.write(`${c.yellow('!')} ${job.id} blocked: ${said}\n`)
        if (said) blockedSaid.set(job.id, said)
        else blockedSaid.delete(job.id)
        return
      }
      case 'build:done':
        if (json) emitJson({ type: 'build:done', ...summarize(event.result) })
        else output.out.write(`${describeBuild(event.result, output, rel)}\n`)
        return
      case 'error':
        if (json) emitJson(event)
        output.err.write(`${c.red('error:')} ${event.message}\n`)
        return
    }
  }
  let stopping = false
  const finishedWhileStopping = new Set<string>()
  const blockedSaid = new Map<string, string>()
  const session = new DevSession(project, {
    onEvent: onSessionEvent,
    ...(options.frozen !== undefined ? { frozen: options.frozen } : {}),
    only: options.recipes,
  })

  const announce = (watched: WatchedPaths) => {
    if (json) {
      emitJson({ type: 'watching', files: watched.files.map(rel), folders: watched.folders.map(rel) })
      return
    }
    const files = `${watched.files.length} file${watched.files.length === 1 ? '' : 's'}`
    const folders = watched.folders.length ? ` and ${watched.folders.length} folder${watched.folders.length === 1 ? '' : 's'}` : ''
    line(c.dim(`watching ${files}${folders} for changes (Ctrl-C to stop)…`))
  }

  const watcher = watchInputs(session, {
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    onChange: async (paths) => {
      let result: { ok: boolean; started: string[] }
      try {
        result = await session.refresh()
      } catch (error) {
        // e.g. a recipe named on the command line was removed from the manifest.
        const message = error instanceof Error ? error.message : String(error)
        if (json) emitJson({ type: 'error', message })
        output.err.write(`${c.red('error:')} ${message}\n`)
        return
      }
      const watched = watcher.sync()
      if (!result.ok) return
      if (json) emitJson({ type: 'change', paths: paths.map(rel), rerun: result.started })
      else {
        const what = paths.map(rel).join(', ')
        line(
          result.started.length
            ? `${c.cyan('↻')} ${what} changed → rerunning ${result.started.join(', ')}`
            : `${c.dim('=')} ${what} changed → nothing to rerun`,
        )
      }
      announce(watched)
    },
    onError: (error) => {
      if (json) emitJson({ type: 'warning', message: `watcher: ${error.message}` })
      else output.err.write(`${c.yellow('warning:')} watcher: ${error.message}\n`)
    },
  })

  let stopped = false
  try {
    // An unknown recipe on the command line is a usage error: it throws out of here (exit 2).
    await session.refresh()
    const watched = watcher.sync()
    await watcher.ready()
    // Also when the manifest is invalid: from here on, saving the fix is seen.
    announce(watched)

    await new Promise<void>((done) => {
      if (options.signal.aborted) done()
      else options.signal.addEventListener('abort', () => done(), { once: true })
    })
    stopping = true
    const inFlight = session.inFlight()
    if (inFlight.length > 0 && !json) {
      output.err.write(
        `stopping: ${inFlight.length} job${inFlight.length === 1 ? '' : 's'} in flight (${inFlight.join(', ')}); paid calls already sent are answered first — Ctrl-C again to abandon them\n`,
      )
    }
    await watcher.close()
    // Free work stops at once; paid calls already sent are answered and their task ids journaled,
    // so nothing paid is lost. A second Ctrl-C abandons them.
    await session.close({ abort: true, ...(options.abandon ? { abandon: options.abandon } : {}) })
    stopped = true
    const journaled = await project.journal.list()
    const finished = inFlight.filter((id) => finishedWhileStopping.has(id))
    const interrupted = inFlight.filter((id) => !finishedWhileStopping.has(id))
    if (json) {
      emitJson({ type: 'stopped', inFlight, finished, interrupted, journaled })
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
      output.err.write(
        `${journaled.length} paid task${journaled.length === 1 ? ' is' : 's are'} still running at the provider and journaled (not paid again):\n`,
      )
      for (const entry of journaled)
        output.err.write(`  ${entry.provider} task ${entry.taskId} (${entry.count} image${entry.count === 1 ? '' : 's'}, submitted ${entry.submittedAt})\n`)
    }
    if (interrupted.length > 0 || journaled.length > 0) output.err.write('Rerun `images-edit build` (or `images-edit watch`) to collect the rest.\n')
  } finally {
    if (!stopped) {
      await watcher.close()
      await session.close({ abort: true })
    }
    reporter.close()
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

function inside(folder: string, path: string): boolean {
  const relation = relative(folder, path)
  return relation === '' || (!relation.startsWith('..') && !isAbsolute(relation))
}
