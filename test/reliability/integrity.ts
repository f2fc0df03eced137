/**
 * Checks shared by the reliability suites: a project's store, lock and outputs are consistent
 * (every record verifies, every object is named by its sha256, every locked output has the locked
 * bytes and size) and no temporary file is left anywhere.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { FileSystemStore, sha256, TEMP_MARKER } from '@images-edit/core'
import { imageInfo, type LockShape, readLockFile, sha256File } from '../helpers.js'

/** Every entry (files and folders) under `dir` whose name carries the temporary-file marker. */
export async function temporaryFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.name.includes(TEMP_MARKER))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort()
}

/** Problems found in the store of `dir` (empty when sound). Also returns what it looked at. */
export async function storeProblems(dir: string): Promise<{ problems: string[]; records: number; objects: number; taskIds: string[] }> {
  const storeDir = join(dir, '.images-edit')
  const store = new FileSystemStore(storeDir)
  const problems: string[] = []
  const taskIds: string[] = []
  const recordNames = (await readdir(join(storeDir, 'records')).catch(() => [] as string[])).filter((name) => !name.includes(TEMP_MARKER))
  for (const name of recordNames) {
    const text = await readFile(join(storeDir, 'records', name), 'utf8')
    try {
      JSON.parse(text)
    } catch {
      problems.push(`record ${name} is not JSON`)
      continue
    }
    const key = name.replace(/\.json$/, '')
    const record = await store.getRecord(key)
    if (!record) {
      problems.push(`record ${name} does not verify (checksum, version or key)`)
      continue
    }
    for (const take of record.takes) {
      for (const image of take.images) if (!(await store.hasObject(image.sha256))) problems.push(`record ${name} names object ${image.sha256} that is missing`)
      for (const run of take.runs) if (run.taskId) taskIds.push(run.taskId)
    }
  }
  let objects = 0
  for (const prefix of await readdir(join(storeDir, 'objects')).catch(() => [] as string[])) {
    for (const rest of await readdir(join(storeDir, 'objects', prefix)).catch(() => [] as string[])) {
      if (rest.includes(TEMP_MARKER)) continue
      objects++
      const actual = sha256(await readFile(join(storeDir, 'objects', prefix, rest)))
      if (actual !== prefix + rest) problems.push(`object ${prefix}/${rest} holds bytes with sha256 ${actual}`)
    }
  }
  return { problems, records: recordNames.length, objects, taskIds }
}

/** Task ids that reached the disk: journal entries and stored runs. */
export async function taskIdsOnDisk(dir: string): Promise<Set<string>> {
  const ids = new Set((await storeProblems(dir)).taskIds)
  const journal = join(dir, '.images-edit', 'journal')
  for (const name of await readdir(journal).catch(() => [] as string[])) {
    if (!name.endsWith('.json') || name.includes(TEMP_MARKER)) continue
    try {
      const entry = JSON.parse(await readFile(join(journal, name), 'utf8')) as { taskId?: unknown }
      if (typeof entry.taskId === 'string') ids.add(entry.taskId)
    } catch {
      // a damaged entry is not resumable: it does not count as on disk
    }
  }
  return ids
}

/** Problems with the lock of `dir` and the outputs it lists (empty when sound). */
export async function lockProblems(
  dir: string,
  expected: { jobs: readonly string[]; size?: { width: number; height: number; format: string } },
): Promise<{ problems: string[]; lock: LockShape | undefined }> {
  const problems: string[] = []
  let lock: LockShape
  try {
    lock = await readLockFile(dir)
  } catch (error) {
    return { problems: [`the lock does not parse: ${(error as Error).message}`], lock: undefined }
  }
  const ids = Object.keys(lock?.jobs ?? {}).sort()
  if (JSON.stringify(ids) !== JSON.stringify([...expected.jobs].sort()))
    problems.push(`the lock lists ${ids.join(', ')}; expected ${[...expected.jobs].sort().join(', ')}`)
  for (const [id, entry] of Object.entries(lock?.jobs ?? {})) {
    if (!/^[0-9a-f]{64}$/.test(entry.key)) problems.push(`${id}: key ${entry.key}`)
    for (const output of entry.outputs) {
      const path = join(dir, output.path)
      const actual = await sha256File(path).catch(() => 'missing')
      if (actual !== output.sha256) problems.push(`${id}: ${output.path} has sha256 ${actual}, the lock says ${output.sha256}`)
      else {
        const info = await imageInfo(path)
        const wanted = expected.size ?? { width: output.width, height: output.height, format: output.format }
        if (info.width !== wanted.width || info.height !== wanted.height || info.format !== wanted.format) {
          problems.push(`${id}: ${output.path} is ${info.width}×${info.height} ${info.format}; expected ${wanted.width}×${wanted.height} ${wanted.format}`)
        }
        if (info.width !== output.width || info.height !== output.height) problems.push(`${id}: ${output.path} size differs from the lock's`)
      }
    }
  }
  return { problems, lock }
}
