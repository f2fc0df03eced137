export { type CostSummary, costSummary, estimatePlan, type JobCost, type PlanCost, planCost, type Unpriced } from './cost/estimate.js'
export { formatMoney, MoneySum } from './cost/money.js'
export type { ModelPrice, Money, PriceSettings, PriceTree, TokenRates } from './cost/price-types.js'
export { type PriceAnswer, type PricedJob, PriceTable, priceTable } from './cost/prices.js'
export { type CostReport, type CostTotals, costReport, type RecipeCost } from './cost/report.js'
export { costLines, costText, ESTIMATE_NOTE, jobCostText, takeCostText, unpricedLine } from './cost/wording.js'
export { type Diagnostic, formatDiagnostic, type Severity } from './diagnostics.js'
export { type ErrorCode, ImagesEditError, ManifestError, RefusalError } from './errors.js'
export { isCI, resolveFrozen } from './frozen.js'
export { globBase } from './fs/glob-base.js'
export { checkProjectPath, fsError, isFsError, isInside, readBounded, realPathOf, reservedReason } from './fs/project-fs.js'
export { canonicalJson, sha256 } from './hash/content-hash.js'
export { FileIndex, type FileInfo, type FileLookup, headerMeta, type ImageMeta, imageDimensions, readImageMeta } from './hash/file-index.js'
export { emptyLock, type LockedInput, type LockedJob, type LockedOutput, type LockFile, readLock, serializeLock, writeLock } from './lock/lock-file.js'
export type { Job, JobInput, JobParams } from './manifest/job.js'
export { type LoadedManifest, type LoadOptions, loadManifest } from './manifest/load-manifest.js'
export { parseManifestText } from './manifest/parse-manifest.js'
export {
  DEFAULT_CONCURRENCY,
  DEFAULT_OUT,
  LOCK_NAME,
  MANIFEST_NAME,
  type Manifest,
  type ProviderSettings,
  type Recipe,
  type RecipeParameters,
  STORE_DIR,
} from './manifest/types.js'
export { closest, schemaPath } from './manifest/validate-schema.js'
export { computeJobKey, KEY_VERSION, type KeyMaterial } from './plan/job-key.js'
export { createPlan, type OutputAction, type Plan, type PlannedJob, type PlanOptions } from './plan/plan.js'
export {
  type BuildOptions,
  type BuildResult,
  findManifest,
  type GcReport,
  type GcResult,
  type GcTake,
  type JobStatus,
  type JobTakes,
  type MissingJob,
  type OutputPlace,
  openProject,
  type PickRequest,
  Project,
  type ProjectOptions,
  type PullReport,
  type PushReport,
  type RemoteState,
  type TakeImage,
  type TakeInfo,
} from './project.js'
export { builtins } from './providers/builtins.js'
export { capabilitiesOf, DEFAULT_PROVIDER, defaultModels } from './providers/capabilities.js'
export { type HostedProviderId, providerIds } from './providers/catalog.js'
export { DEFAULT_BASE_URLS, DEFAULT_KEY_ENV, type ProviderConfig, readDotEnv, resolveProviderConfig } from './providers/config.js'
export type * from './providers/definition.js'
export { ProviderError, type Stage } from './providers/http.js'
export { createLocalProvider, renderLocalEdit } from './providers/local-provider.js'
export type * from './providers/provider.js'
export { createProviderRegistry, type ProviderRegistry } from './providers/registry.js'
export { gptImageSizes } from './providers/sizes.js'
export type { EventListener, JobError, RunEvent } from './run/events.js'
export {
  createRunnerGates,
  type GeneratedJob,
  type JobOutcome,
  MAX_RESULT_BYTES,
  type ProviderLimits,
  type RunHandle,
  type RunnerContext,
  type RunnerGates,
  runJobs,
} from './run/run-jobs.js'
export { DevSession, type DevSessionOptions, type JobPhase, type JobView, type ReadyImage, type SessionEvent, type TakeQuote } from './session/dev-session.js'
export { type ProjectPaths, WatchedInputs, type WatchedPaths } from './session/watched-inputs.js'
export { sweepTemporaryFiles, TEMP_MARKER, writeFileAtomic } from './store/atomic-write.js'
export { FileSystemStore } from './store/fs-store.js'
export { Journal, type JournalEntry } from './store/journal.js'
export { KeyLocks } from './store/key-lock.js'
export type { ImageRecord, JobRecord, ResultStore, RunRecord, TakeRecord } from './store/store.js'
export { parsePick } from './takes/pick.js'
export { Workspace } from './workspace/workspace.js'
