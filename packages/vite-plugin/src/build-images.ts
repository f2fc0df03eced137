import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type BuildResult, costText, type Job, type LockFile, MANIFEST_NAME, type Project, type RunEvent, unpricedLine, WatchedInputs } from '@images-edit/core'
import { formatDiagnosticLine, TAG } from './messages.js'

/** What `vite build` knows after the engine ran: the jobs and the lock that lists their images. */
export interface BuiltImages {
  jobs: readonly Job[]
  lock: LockFile
  root: string
  /** Absolute paths of the build's input files (the manifest, every ref and mask), as core lists them. */
  inputs: string[]
}

/** Minimal logger (Vite's `config.logger` fits). */
export interface Log {
  info(message: string): void
  warn(message: string): void
}

/**
 * Runs the plan once for `vite build`: validates, restores or generates (or, frozen, refuses), and
 * fails when any job failed or was blocked. The engine throws `ManifestError` / `RefusalError`,
 * which the plugin turns into build errors.
 */
export async function buildImages(project: Project, options: { frozen: boolean | undefined; log: Log; root: string }): Promise<BuiltImages> {
  const result: BuildResult = await project.build({
    ...(options.frozen !== undefined ? { frozen: options.frozen } : {}),
    onEvent: (event) => logRunEvent(event, options.log, options.root),
  })
  const problems = [
    ...result.failed.map((item) => `  - ${item.id}: ${item.error.message}`),
    ...result.blocked.map((item) => `  - ${item.id}: ${item.reasons.join('; ')}`),
  ]
  if (problems.length > 0) {
    throw new Error(`${problems.length} job${problems.length === 1 ? '' : 's'} could not be built:\n${problems.join('\n')}`)
  }
  // What `vite build --watch` watches: core's list of inputs, the same the dev server and `watch` use.
  const { files } = new WatchedInputs(project).update(result.loaded)
  // Through the project: its lock store's parse cache answers without parsing the YAML again.
  return { jobs: result.loaded.jobs, lock: await project.readLock(), root: project.root, inputs: files }
}

/** The jobs an import names: every job of a recipe, or one job by its id (`product/bottle.jpg`). */
export function jobsNamed(jobs: readonly Job[], id: string): Job[] {
  const ofRecipe = jobs.filter((job) => job.recipe === id)
  return ofRecipe.length > 0 ? ofRecipe : jobs.filter((job) => job.id === id)
}

/** Output images of a built job, with their bytes, as the lock records them. */
export async function outputsOf(built: BuiltImages, job: Job) {
  const entry = built.lock.jobs[job.id]
  if (!entry || entry.key !== job.key) throw new Error(`${TAG} ${job.id} is not in ${built.root}/images.edit.lock after the build; rerun the build`)
  return Promise.all(
    entry.outputs.map(async (output) => ({ ...output, absolute: join(built.root, output.path), bytes: await readFile(join(built.root, output.path)) })),
  )
}

function logRunEvent(event: RunEvent, log: Log, root: string): void {
  switch (event.type) {
    case 'plan':
      if (event.generate + event.restore > 0) {
        log.info(
          `${TAG} ${event.total} jobs: ${event.fresh} up to date, ${event.restore} restored from the store, ${event.generate} to generate (${event.newImages} new image${event.newImages === 1 ? '' : 's'}, ${event.paidImages} paid${event.paidImages > 0 ? ` ${costText(event.cost)}` : ''})`,
        )
      }
      for (const group of event.cost.unpriced) log.warn(`${TAG} ${unpricedLine(group, MANIFEST_NAME)}`)
      break
    case 'job:done':
      log.info(`${TAG} ${event.id}: generated ${event.newImages} image${event.newImages === 1 ? '' : 's'} on ${event.provider} in ${formatMs(event.elapsedMs)}`)
      break
    case 'job:failed':
      log.warn(`${TAG} ${event.id}: failed on ${event.provider}: ${event.error.message}`)
      break
    case 'warning':
      // A manifest warning names its file, as errors do: `images.edit.yaml:9:18: …`.
      if (event.diagnostic) log.warn(`${TAG} ${formatDiagnosticLine(event.diagnostic, root)}`)
      else log.warn(`${TAG} ${event.id ? `${event.id}: ` : ''}${event.message}`)
      break
    default:
      break
  }
}

/** `850ms`, `2.4s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`
}
