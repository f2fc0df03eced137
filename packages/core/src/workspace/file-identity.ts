// Identities of files and folders as the plan snapshot watches them: size, mtime, ctime and inode,
// and the folders an `each` glob reads.
import { type Dirent, lstatSync, readdirSync, type Stats, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { globBase } from '../fs/glob-base.js'
import { sha256 } from '../hash/content-hash.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'

/** size, mtime, ctime, inode — or null for "does not exist". ctime moves on every change, even one that restores the mtime. */
export type Identity = [number, number, number, number] | null

/** Bumped when what the snapshot holds changes shape. */
export const SNAPSHOT_VERSION = 1
/** A glob over more folders than this is not watched folder by folder: such a project takes the full path. */
const MAX_WATCHED_FOLDERS = 20_000

/** The `each` globs of the manifest's recipes. */
export function eachPatterns(loaded: LoadedManifest): string[] {
  const patterns = new Set<string>()
  for (const recipe of Object.values(loaded.manifest?.recipes ?? {})) {
    const each = (recipe as { each?: unknown }).each
    for (const pattern of Array.isArray(each) ? each : [each]) if (typeof pattern === 'string') patterns.add(pattern)
  }
  return [...patterns]
}

/**
 * The folders a glob reads: its base, and (when the rest of the pattern crosses folders) every
 * folder below it, links not followed as the expansion does not follow them. A file added to or
 * removed from any of them changes that folder's identity. False when there are too many.
 */
export function addGlobFolders(base: string, pattern: string, folders: Set<string>): boolean {
  folders.add(base)
  const rest = pattern.slice(globBase(pattern).length).replace(/^\//, '')
  if (!rest.includes('/') && !rest.includes('**')) return true
  const queue = [base]
  while (queue.length > 0) {
    const folder = queue.pop() as string
    let entries: Dirent[]
    try {
      entries = readdirSync(folder, { withFileTypes: true })
    } catch {
      continue
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue
      const path = join(folder, entry.name)
      folders.add(path)
      queue.push(path)
      if (folders.size > MAX_WATCHED_FOLDERS) return false
    }
  }
  return true
}

export function identityOf(path: string, follow = false): Identity {
  let stats: Stats | undefined
  try {
    stats = follow ? statSync(path, { throwIfNoEntry: false }) : lstatSync(path, { throwIfNoEntry: false })
  } catch {
    // ENOTDIR and the like: as good as missing.
  }
  return stats ? [stats.size, stats.mtimeMs, stats.ctimeMs, stats.ino] : null
}

export function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}

export function same(a: Identity, b: Identity): boolean {
  if (a === null || b === null) return a === b
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3]
}

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith('/'))
}

let engine: string | undefined
/**
 * This engine's build, the same whichever way it is loaded (the CLI runs the bundle, the Vite
 * plugin the compiled modules: both are two folders below the package, so they share it): the
 * identity of the package's package.json (a new install or upgrade writes it anew) and of its
 * tsconfig.tsbuildinfo where there is one (a checkout: every compile rewrites it). A snapshot made
 * by another version or build of the engine is not read.
 */
export function engineIdentity(): string {
  if (engine !== undefined) return engine
  const root = fileURLToPath(new URL('../../', import.meta.url))
  engine = sha256(JSON.stringify([identityOf(join(root, 'package.json')), identityOf(join(root, 'tsconfig.tsbuildinfo'))]))
  return engine
}
