import { basename, dirname, resolve } from 'node:path'
import type { DevSession, WatchedPaths } from '@images-edit/core'
import { type FSWatcher, watch } from 'chokidar'

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

export type { WatchedPaths }

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
 * debounced. Never reports images-edit's own writes (core's {@link DevSession.isOwnWrite}: the
 * output folder, every output file, the store, the lock and temporary files), so a build cannot
 * trigger itself.
 */
export function watchInputs(session: DevSession, options: InputWatcherOptions): InputWatcher {
  let explicit = new Set<string>()
  const ownWrite = (path: string): boolean => session.isOwnWrite(path)
  // What `each` folders hold of a repository's or a package manager's own is never an input,
  // unless the manifest names it.
  const ignoredInFolders = (path: string): boolean => {
    if (session.isOwnWrite(path)) return true
    const name = basename(path)
    return (name === '.git' || name === 'node_modules') && !explicit.has(resolve(path))
  }
  const changes = createDebouncedChanges(options)
  const onEvent = (_event: string, path: string) => {
    if (session.isInput(path)) changes.add(resolve(path))
  }

  // Files are watched through their folders (one level deep), not one by one: a file deleted and
  // put back later (an editor's rename-over save, a branch switch) is seen again, which a watch
  // on the file itself does not guarantee. `each` folders are watched all the way down.
  const parents = createGrowingWatcher({ depth: 0, ignored: ownWrite }, onEvent, options.onError)
  const folders = createGrowingWatcher({ ignored: ignoredInFolders }, onEvent, options.onError)

  return {
    sync() {
      const list = session.watchList()
      const current = { files: list.files.map((path) => resolve(path)), folders: list.folders.map((path) => resolve(path)) }
      explicit = new Set(current.files)
      if (!changes.closed) {
        parents.add(current.files.filter((path) => !ownWrite(path)).map((path) => dirname(path)))
        folders.add(current.folders.filter((path) => !ownWrite(path)))
      }
      return { files: [...current.files], folders: [...current.folders] }
    },
    ready: () => Promise.all([parents.ready(), folders.ready()]).then(() => {}),
    async close() {
      changes.close()
      await Promise.all([parents.close(), folders.close()])
      await changes.drained()
    },
  }
}

/** Collects changed paths and hands them to `onChange` after a quiet time, one call at a time. */
function createDebouncedChanges(options: InputWatcherOptions) {
  const debounceMs = options.debounceMs ?? 50
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
  return {
    get closed() {
      return closed
    },
    add(path: string) {
      if (closed) return
      pending.add(path)
      if (timer) clearTimeout(timer)
      timer = setTimeout(flush, debounceMs)
    },
    close() {
      closed = true
      if (timer) clearTimeout(timer)
    },
    /** Resolves once a call under way has returned. */
    drained: () => queue,
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
