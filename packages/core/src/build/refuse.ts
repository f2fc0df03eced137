// The refuse stage: every reason not to build, checked before any work (no file written, no provider created, nothing paid).
import { basename } from 'node:path'
import { refuseSpend } from '../cost/budget.js'
import type { CostSummary } from '../cost/estimate.js'
import type { Diagnostic } from '../diagnostics.js'
import { ImagesEditError, ManifestError, RefusalError } from '../errors.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import { LOCK_NAME } from '../manifest/types.js'
import type { Plan, PlannedJob } from '../plan/plan.js'
import type { ProviderRegistry } from '../providers/registry.js'
import type { Workspace } from '../workspace/workspace.js'
import type { BuildOptions } from './types.js'

/** What the refuse stage looks at. */
export interface RefuseInputs {
  workspace: Workspace
  loaded: LoadedManifest
  plan: Plan
  providers: ProviderRegistry
  /** Whether this build is frozen (decided once, by `resolveFrozen`). */
  frozen: boolean
  options: BuildOptions
  /** The plan's estimated cost, checked against the spend budget. */
  cost: CostSummary
}

/**
 * Throws when the build must not run: frozen with something to generate, a lock edited by hand,
 * over the image or spend budget, a provider key missing, or a paid input that does not decode.
 */
export async function refuse({ workspace, loaded, plan, providers, frozen, options, cost }: RefuseInputs): Promise<void> {
  const generating = plan.jobs.filter((item) => item.status === 'generate')
  const refused = () => generating.map((item) => ({ id: item.job.id, reason: item.reasons.join('; '), newImages: item.newImages }))
  if (frozen && generating.length > 0) {
    throw new RefusalError(
      'FROZEN',
      `frozen mode: ${generating.length} job${generating.length === 1 ? '' : 's'} would generate ${plan.newImages} new image${plan.newImages === 1 ? '' : 's'}${workspace.remote ? ` (neither git nor the team store ${workspace.remote.url} has them)` : ''}, and nothing may be generated. Build them without --frozen (or with --no-frozen) where that is intended, then commit ${LOCK_NAME} and the outputs.`,
      refused(),
    )
  }
  const lockState = await workspace.lockStore.read()
  if (!options.forceLock && lockState.handEdited) {
    throw new ImagesEditError(
      'LOCK_EDITED',
      `${LOCK_NAME} was edited by hand (${lockState.editReason ?? 'it differs from what images-edit writes'}), so it is not overwritten. Restore it (git checkout ${LOCK_NAME}), or run with --force-lock to let images-edit rewrite it from what is on disk.`,
    )
  }
  const budget = options.maxImages ?? loaded.manifest?.budget?.maxImagesPerRun
  if (budget !== undefined && plan.newImages > budget) {
    throw new RefusalError(
      'BUDGET',
      `this run would generate ${plan.newImages} new images (${plan.paidImages} paid), over the budget of ${budget}. Raise --max-images, or build fewer recipes at once (images-edit build <recipe…>).`,
      refused(),
    )
  }
  const maxSpend = options.maxSpend ?? loaded.manifest?.budget?.maxSpend
  if (maxSpend !== undefined) {
    const from = options.maxSpend !== undefined ? '--max-spend' : 'budget.maxSpend'
    refuseSpend(cost, { amount: maxSpend, from, manifestName: basename(loaded.file) }, refused)
  }
  // A missing key is reported now, before any work, naming the variable.
  for (const provider of new Set(generating.map((item) => item.job.provider))) providers.get(provider)
  await checkPaidInputs(workspace, loaded, generating)
}

/**
 * Every ref and mask file about to be sent to a paid provider is decoded in full (sharp) before
 * anything is paid: a truncated PNG has a sound header and passes validation. Failures are
 * located diagnostics (a {@link ManifestError}); a file that decoded is remembered by sha256.
 */
async function checkPaidInputs(workspace: Workspace, loaded: LoadedManifest, generating: readonly PlannedJob[]): Promise<void> {
  const problems: Diagnostic[] = []
  const seen = new Map<string, Promise<{ ok: true } | { ok: false; message: string }>>()
  // Every decode is started first, then each awaited: awaiting one before starting the next kept
  // a single decode in flight (an IPC round trip each, 10,000 in a row for a catalogue), where the
  // pixel child runs PIXEL_SLOTS at once and bounds the rest itself.
  for (const { job } of generating) {
    if (!job.paid) continue
    for (const input of job.mask ? [...job.refs, job.mask] : job.refs) {
      if (input.input.kind !== 'file' || seen.has(input.input.path)) continue
      const decoding = workspace.fileIndex.decodes(input.input.path, input.input.sha256)
      // Awaited below, in order; a rejection must not go unhandled while earlier ones are awaited.
      decoding.catch(() => {})
      seen.set(input.input.path, decoding)
    }
  }
  for (const { job } of generating) {
    if (!job.paid) continue
    const inputs = [
      ...job.refs.map((input, index) => ({ input, path: [...job.docPath, 'refs', index], role: 'ref' })),
      ...(job.mask ? [{ input: job.mask, path: [...job.docPath, 'mask'], role: 'mask' }] : []),
    ]
    for (const { input, path, role } of inputs) {
      if (input.input.kind !== 'file') continue
      const { path: file, sha256: sha } = input.input
      let decoding = seen.get(file)
      if (!decoding) {
        decoding = workspace.fileIndex.decodes(file, sha)
        seen.set(file, decoding)
      }
      const result = await decoding
      if (result.ok) continue
      problems.push(
        loaded.source.diagnostic(
          'error',
          `${role}/undecodable`,
          path,
          `${input.source} cannot be decoded (${result.message}); it is not sent to ${job.provider}${job.eachFile ? ` (for ${job.eachFile})` : ''}`,
          'The file is truncated or damaged: export it again. Nothing was paid.',
        ),
      )
    }
  }
  await workspace.fileIndex.save()
  if (problems.length > 0) {
    throw new ManifestError(`${problems.length} input${problems.length === 1 ? '' : 's'} cannot be decoded; nothing was sent or paid`, problems)
  }
}
