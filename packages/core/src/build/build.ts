// One build, composed of its stages: refuse, restore, generate (the runner verifies and stores), commit. ARCHITECTURE.md's table, in code.
import { costSummary, planCost } from '../cost/estimate.js'
import type { LockedJob } from '../lock/lock-file.js'
import type { LoadedManifest } from '../manifest/load-manifest.js'
import type { Plan } from '../plan/plan.js'
import { hostedProviderIds } from '../providers/catalog.js'
import type { ProviderRegistry } from '../providers/registry.js'
import type { EventListener } from '../run/events.js'
import { redactDeep } from '../secrets/redact.js'
import type { Workspace } from '../workspace/workspace.js'
import { updateLock } from './commit.js'
import { collectLeftovers, generate, runnerFor, tally } from './generate.js'
import { refuse } from './refuse.js'
import { restore, settleUnchanged } from './restore.js'
import type { BuildOptions, BuildResult, BuildRun } from './types.js'

/** What a build starts from: the manifest and plan, the providers configured for it, and whether it is frozen. */
export interface BuildInputs {
  loaded: LoadedManifest
  plan: Plan
  providers: ProviderRegistry
  frozen: boolean
  /**
   * `pull`: only restore. Journaled paid tasks are left for a build to collect (collecting polls
   * the provider), and nothing is pushed to the team store.
   */
  restoreOnly?: boolean
  /** The lock entries the plan was made from, when not its jobs' own `locked` (`pick` plans against the lock as it would be). */
  planned?: ReadonlyMap<string, LockedJob | undefined>
}

/** Runs a plan: restores what the store has, generates the rest, writes outputs and the lock. */
export async function runBuild(workspace: Workspace, inputs: BuildInputs, options: BuildOptions): Promise<BuildResult> {
  const started = Date.now()
  const { loaded, plan, providers } = inputs
  const run: BuildRun = { workspace, options, ...guardSecrets(providers, options.onEvent), result: emptyResult(loaded, plan), updates: {} }
  for (const diagnostic of loaded.diagnostics) {
    if (diagnostic.severity === 'warning') run.emit({ type: 'warning', message: `${diagnostic.line}:${diagnostic.column} ${diagnostic.message}`, diagnostic })
  }
  for (const message of workspace.remote?.takeWarnings() ?? []) run.emit({ type: 'warning', message })
  const cost = planCost(plan, loaded.manifest)
  await refuse({ workspace, ...inputs, options, cost })
  const generating = plan.jobs.filter((item) => item.status === 'generate')
  run.emit({
    type: 'plan',
    total: plan.jobs.length,
    fresh: plan.jobs.filter((item) => item.status === 'fresh').length,
    restore: plan.jobs.filter((item) => item.status === 'restore').length,
    generate: generating.length,
    blocked: plan.jobs.filter((item) => item.status === 'blocked').length,
    newImages: plan.newImages,
    paidImages: plan.paidImages,
    cost: costSummary(cost),
  })
  // A remembered no-op (`PlanSnapshot`): none of the folders a sweep looks in has moved since it was made.
  if (!workspace.snapshot.isRecalled(plan)) await workspace.sweep(loaded)
  const signal = options.signal ?? new AbortController().signal
  const { result } = run
  try {
    settleUnchanged(run, plan)
    await restore(run, plan, signal)
    const runner = runnerFor(run, providers, options.concurrency ?? loaded.concurrency, signal)
    const outcomes = await generate(run, generating, runner)
    if (!inputs.restoreOnly) await collectLeftovers(run, generating, runner)
    tally(run, generating, outcomes)
  } finally {
    // Every job that stored images (a failed job's partial take too) is queued for the team store.
    await workspace.remote?.queue(await storedKeys(workspace, generating))
    result.interrupted = signal.aborted
    // Whatever happened, record what is on disk now: finished jobs are never redone.
    const full = (options.only?.length ?? 0) === 0
    result.lockWritten = await updateLock(workspace, run.updates, {
      dropMissing: full ? new Set(loaded.jobs.map((job) => job.id)) : undefined,
      planned: inputs.planned ?? new Map(plan.jobs.map((item) => [item.job.id, item.locked])),
    })
    await workspace.fileIndex.save()
  }
  // Interrupted (Ctrl-C): what is queued stays queued for the next build or `push`.
  if (!result.interrupted && !inputs.restoreOnly) await writeThrough(run)
  run.emit({
    type: 'run:done',
    done: result.done.length,
    fresh: result.fresh.length,
    restored: result.restored.length,
    failed: result.failed.length,
    blocked: result.blocked.length,
    newImages: result.newImages,
    elapsedMs: Date.now() - started,
    interrupted: result.interrupted,
  })
  return result
}

/** Keys of the jobs that have a record in the local store now. */
async function storedKeys(workspace: Workspace, jobs: readonly { job: { key: string } }[]): Promise<string[]> {
  if (!workspace.remote || jobs.length === 0) return []
  const stored = new Set(await workspace.store.listRecords())
  return jobs.map((item) => item.job.key).filter((key) => stored.has(key))
}

/** Write through: pushes what is queued (this run's results and any an earlier run left); what fails stays queued, with a warning. */
async function writeThrough(run: BuildRun): Promise<void> {
  const { remote, store } = run.workspace
  if (!remote) return
  const { failed } = await remote.push(store).catch((error: Error) => ({ failed: [{ key: '', message: error.message }] }))
  for (const message of remote.takeWarnings()) run.emit({ type: 'warning', message })
  if (failed.length > 0) {
    const pending = (await remote.pending()).length
    run.emit({
      type: 'warning',
      message: `${pending} result${pending === 1 ? ' is' : 's are'} not yet in the team store ${remote.url} (${failed[0]?.message}); ${pending === 1 ? 'it stays' : 'they stay'} queued for the next build or \`images-edit push\``,
    })
  }
}

/** Safety net: whatever a service echoes, no configured key leaves through an event or a stored record. */
function guardSecrets(providers: ProviderRegistry, listener: EventListener = () => {}): Pick<BuildRun, 'emit' | 'redact'> {
  const secrets = hostedProviderIds.map((id) => providers.config(id)?.apiKey).filter((key): key is string => Boolean(key))
  if (secrets.length === 0) return { emit: listener, redact: (value) => value }
  return { emit: (event) => listener(redactDeep(event, secrets)), redact: (value) => redactDeep(value, secrets) }
}

function emptyResult(loaded: LoadedManifest, plan: Plan): BuildResult {
  return { plan, loaded, done: [], fresh: [], restored: [], failed: [], blocked: [], notStarted: [], newImages: 0, lockWritten: false, interrupted: false }
}
