import { basename, join, resolve } from 'node:path'
import { globBase } from '../fs/glob-base.js'
import { isInside } from '../fs/project-fs.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import { DEFAULT_OUT } from '../manifest/types.js'
import { TEMP_MARKER } from '../store/atomic-write.js'

/** What a watcher over a project's inputs watches. */
export interface WatchedPaths {
  /** Absolute paths: the manifest, every ref and mask file. */
  files: string[]
  /** Absolute folders `each` globs look in (new files fan out). */
  folders: string[]
}

/** The project's own paths: what images-edit itself writes besides the outputs. */
export interface ProjectPaths {
  root: string
  manifestPath: string
  lockPath: string
  storeDir: string
}

/**
 * The one decision of what is an input and what is images-edit's own write, shared by `watch` and
 * the Vite dev server so a build can never trigger itself in either. Own writes are the lock, the
 * store, temporary files, every output file and the output folder (`out: .` excepted: then only
 * the output files). Output paths only accumulate: a folder that once held outputs may still be
 * written by a build in flight after the manifest moved them.
 */
export class WatchedInputs {
  private readonly outDirs = new Set<string>()
  private readonly outputs = new Set<string>()
  private files = new Set<string>()
  private folders: string[] = []

  constructor(private readonly paths: ProjectPaths) {
    this.files.add(resolve(paths.manifestPath))
  }

  /** Recomputes the inputs from a manifest that validated; returns what to watch. */
  update(loaded: LoadedManifest | undefined): WatchedPaths {
    const files = new Set<string>([resolve(this.paths.manifestPath)])
    const folders = new Set<string>()
    if (!loaded) this.outDirs.add(resolve(this.paths.root, DEFAULT_OUT))
    if (loaded) {
      const root = resolve(this.paths.root)
      if (resolve(loaded.outDir) !== root) this.outDirs.add(resolve(loaded.outDir))
      for (const job of loaded.jobs) {
        for (const input of [...job.refs, ...(job.mask ? [job.mask] : [])]) if (input.input.kind === 'file') files.add(resolve(input.input.path))
        for (const output of job.outputs) this.outputs.add(resolve(root, output))
      }
      for (const recipe of Object.values(loaded.manifest?.recipes ?? {})) {
        if (recipe.each) folders.add(resolve(join(root, globBase(recipe.each))))
      }
    }
    this.files = files
    this.folders = [...folders].sort()
    return this.current()
  }

  /** The paths of the last {@link update}. */
  current(): WatchedPaths {
    return { files: [...this.files].sort(), folders: [...this.folders] }
  }

  /** Whether images-edit itself writes this path (lock, store, temporary file, output). */
  isOwnWrite(path: string): boolean {
    const absolute = resolve(path)
    if (basename(absolute).includes(TEMP_MARKER)) return true
    if (absolute === resolve(this.paths.lockPath) || isInside(resolve(this.paths.storeDir), absolute)) return true
    if (this.outputs.has(absolute)) return true
    for (const folder of this.outDirs) if (isInside(folder, absolute)) return true
    return false
  }

  /** Whether a change to this path can change a build: a watched file or a file in an `each` folder, never an own write. */
  isInput(path: string): boolean {
    const absolute = resolve(path)
    if (this.isOwnWrite(absolute)) return false
    return this.files.has(absolute) || this.folders.some((folder) => isInside(folder, absolute))
  }

  /** Whether a path is one of the watched files themselves (not merely inside a watched folder). */
  isWatchedFile(path: string): boolean {
    return this.files.has(resolve(path))
  }
}
