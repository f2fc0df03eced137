import type { DevContext } from './dev-context.js'

/** Editors write a file in several steps (truncate, write, rename): one refresh per burst. */
const REFRESH_DEBOUNCE_MS = 60

/**
 * Vite's file watcher feeding the session: a change to an input (as core decides it, never one of
 * images-edit's own writes) refreshes the plan, and every refresh tells Vite's watcher what to add.
 */
export class InputRefresh {
  private timer: NodeJS.Timeout | undefined
  /** The absolute files and folders Vite's watcher was last asked to add. */
  private watched = new Set<string>()

  constructor(private readonly context: DevContext) {}

  /** Listens to Vite's watcher (a lazy bridge never does: it watches nothing). */
  listen(): void {
    this.context.server.watcher.on('all', (event, path) => {
      if ((event === 'add' || event === 'change' || event === 'unlink') && this.context.session?.isInput(path)) this.schedule()
    })
  }

  /** Reloads the manifest and starts what it makes stale; then watches its inputs. */
  async refresh(): Promise<void> {
    const { session } = this.context
    if (!session || this.context.closed) return
    await session.refresh()
    this.watchInputs()
  }

  close(): void {
    clearTimeout(this.timer)
  }

  private schedule(): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.refresh(), REFRESH_DEBOUNCE_MS)
  }

  private watchInputs(): void {
    const { session, options, server } = this.context
    if (!session || options.lazy) return
    const { files, folders } = session.watchList()
    const current = [...files, ...folders]
    const added = current.filter((path) => !this.watched.has(path))
    this.watched = new Set(current)
    if (added.length > 0) server.watcher.add(added)
  }
}
