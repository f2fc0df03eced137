// `gc`: what nothing references — records, old takes, images, output files images-edit wrote — found, sized the same way with or without dryRun, then deleted.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { assertWritable, checkProjectPath, realFolderMemo, withFsErrors } from '../fs/project-fs.js'
import type { LockFile } from '../lock/lock-file.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { ImageRecord, JobRecord } from '../store/store.js'
import type { Workspace } from '../workspace/workspace.js'
import type { GcReport, GcResult, GcTake } from './types.js'

export type { GcReport, GcResult, GcTake } from './types.js'

/** Takes kept per key: the lock's pinned takes, and every take of a key only the manifest names. */
type Keep = Map<string, Set<number> | 'all'>

/** Something deleted, with the images it held (their bytes are counted once, for the first). */
interface Dropped {
  images: readonly ImageRecord[]
  entry: GcResult | GcTake
}

/**
 * Removes what nothing references: records of keys neither the manifest nor the lock uses,
 * takes other than the pinned one, objects no kept take names, and output files images-edit
 * wrote that the lock no longer lists (only when their bytes are still the ones it wrote).
 */
export async function collectGarbage(workspace: Workspace, loaded: LoadedManifest, options: { dryRun?: boolean } = {}): Promise<GcReport> {
  const { lock } = await workspace.lockStore.read()
  const report: GcReport = { records: [], results: [], takes: [], objects: [], outputs: [], bytes: 0, outputBytes: 0 }
  const scan = await scanRecords(workspace, lock, loaded, report, options.dryRun === true)
  for (const entry of Object.values(lock.jobs)) for (const output of entry.outputs) scan.referenced.add(output.sha256)
  for (const hash of await workspace.store.listObjects()) if (!scan.referenced.has(hash)) report.objects.push(hash)

  const ledger = await workspace.ledger.read()
  await sizeDeleted(workspace, report, scan, ledger)
  const forget = await staleOutputs(workspace, lock, loaded, ledger, report)

  if (!options.dryRun) {
    const { store, root, fileIndex } = workspace
    for (const key of report.records) await store.deleteRecord(key)
    for (const hash of report.objects) await store.deleteObject(hash)
    for (const path of report.outputs) {
      await assertWritable(root, path)
      await withFsErrors({ path: join(root, path), doing: `deleting ${path}` }, () => rm(join(root, path), { force: true }))
      fileIndex.forget(join(root, path))
      forget[path] = undefined
    }
    await workspace.ledger.record(forget)
    await workspace.sweep(loaded)
  }
  await workspace.fileIndex.save()
  return report
}

/** The takes to keep per key, and (since a key names no recipe, and people do) the job ids of each key. */
function keptTakes(lock: LockFile, loaded: LoadedManifest): { keep: Keep; jobsOf: Map<string, Set<string>> } {
  const keep: Keep = new Map()
  for (const entry of Object.values(lock.jobs)) keep.set(entry.key, addTake(keep.get(entry.key), entry.take))
  for (const job of loaded.jobs) if (!keep.has(job.key)) keep.set(job.key, 'all')
  const jobsOf = new Map<string, Set<string>>()
  for (const [id, entry] of [...Object.entries(lock.jobs), ...loaded.jobs.map((job) => [job.id, job] as const)]) {
    jobsOf.set(entry.key, (jobsOf.get(entry.key) ?? new Set()).add(id))
  }
  return { keep, jobsOf }
}

interface RecordScan {
  /** sha256 of every image a kept take names. */
  referenced: Set<string>
  /** Takes deleted from records that stay. */
  dropped: Dropped[]
  /** Records deleted whole (undefined when damaged). */
  droppedRecords: { key: string; record: JobRecord | undefined }[]
}

/** Walks every record: unwanted ones are listed for deletion, old takes of wanted ones listed (and, unless a dry run, removed from the record). */
async function scanRecords(workspace: Workspace, lock: LockFile, loaded: LoadedManifest, report: GcReport, dryRun: boolean): Promise<RecordScan> {
  const { store } = workspace
  const { keep, jobsOf } = keptTakes(lock, loaded)
  const scan: RecordScan = { referenced: new Set(), dropped: [], droppedRecords: [] }
  for (const key of await store.listRecords()) {
    const record = await store.getRecord(key)
    const wanted = keep.get(key)
    if (!record || !wanted) {
      report.records.push(key)
      scan.droppedRecords.push({ key, record })
      continue
    }
    const kept = record.takes.filter((take) => wanted === 'all' || wanted.has(take.take))
    for (const take of record.takes) {
      if (kept.includes(take)) continue
      const jobs = [...(jobsOf.get(key) ?? [])].sort()
      const entry: GcTake = { key, take: take.take, jobs, kept: kept.map((item) => item.take), images: take.images.length, bytes: 0 }
      report.takes.push(entry)
      scan.dropped.push({ images: take.images, entry })
    }
    for (const take of kept) for (const image of take.images) scan.referenced.add(image.sha256)
    if (!dryRun && kept.length !== record.takes.length) {
      const selectedTake = kept.some((take) => take.take === record.selectedTake) ? record.selectedTake : (kept.at(-1)?.take ?? 1)
      await store.putRecord({ ...record, takes: kept, selectedTake })
    }
  }
  return scan
}

/**
 * Describes each deleted record for people and counts the bytes everything deleted frees. Sizes
 * are read the same way whether or not this is a dry run, so both report the same bytes.
 */
async function sizeDeleted(workspace: Workspace, report: GcReport, scan: RecordScan, ledger: Record<string, string>): Promise<void> {
  const { store } = workspace
  const objectBytes = new Map<string, number>()
  for (const hash of report.objects) objectBytes.set(hash, (await store.objectSize(hash)) ?? 0)
  let recordBytes = 0
  for (const { key, record } of scan.droppedRecords) {
    const images = record?.takes.flatMap((take) => take.images) ?? []
    const shas = new Set(images.map((image) => image.sha256))
    const storedAt = record?.takes
      .flatMap((take) => take.runs.map((run) => run.at))
      .sort()
      .at(-1)
    const entry: GcResult = {
      key,
      ...(record ? { provider: record.provider, model: record.model } : {}),
      images: images.length,
      ...(storedAt ? { storedAt } : {}),
      outputs: Object.entries(ledger)
        .filter(([, sha]) => shas.has(sha))
        .map(([path]) => path),
      // The record itself, as the store keeps it.
      bytes: (await store.recordSize(key)) ?? 0,
    }
    recordBytes += entry.bytes
    report.results.push(entry)
    scan.dropped.unshift({ images, entry })
  }
  // Each image deleted is counted once: for the first deleted record or take that held it.
  const counted = new Set<string>()
  for (const { images, entry } of scan.dropped) {
    for (const { sha256: hash } of images) {
      if (counted.has(hash) || !objectBytes.has(hash)) continue
      counted.add(hash)
      entry.bytes += objectBytes.get(hash) ?? 0
    }
  }
  report.bytes = [...objectBytes.values()].reduce((sum, bytes) => sum + bytes, recordBytes)
}

/**
 * Output files the ledger says images-edit wrote, that neither the lock nor the manifest names now,
 * and whose bytes are still the ones written: listed in the report. Returns the ledger entries to
 * forget (files already gone).
 */
async function staleOutputs(
  workspace: Workspace,
  lock: LockFile,
  loaded: LoadedManifest,
  ledger: Record<string, string>,
  report: GcReport,
): Promise<Record<string, undefined>> {
  const { root, fileIndex } = workspace
  // Outputs the manifest names now count too: after a crash the lock may not list them yet.
  const lockedPaths = new Set([
    ...Object.values(lock.jobs).flatMap((entry) => entry.outputs.map((output) => output.path)),
    ...loaded.jobs.flatMap((job) => job.outputs),
  ])
  const forget: Record<string, undefined> = {}
  const realFolder = realFolderMemo()
  for (const [path, written] of Object.entries(ledger)) {
    if (lockedPaths.has(path)) continue
    // Deleted only where it really is inside the project, and never one of images-edit's own files.
    if (!(await checkProjectPath(root, path, { write: true, realFolder })).ok) continue
    const lookup = await fileIndex.lookup(join(root, path))
    if (!lookup.ok) {
      forget[path] = undefined
      continue
    }
    // A file someone changed after we wrote it is theirs now.
    if (lookup.info.sha256 !== written) continue
    report.outputs.push(path)
    report.outputBytes += lookup.info.size
  }
  return forget
}

function addTake(current: Set<number> | 'all' | undefined, take: number): Set<number> | 'all' {
  if (current === 'all') return current
  const set = current ?? new Set<number>()
  set.add(take)
  return set
}
