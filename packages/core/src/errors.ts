import type { Diagnostic } from './diagnostics.js'

const marker = Symbol.for('images-edit.error')

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'MANIFEST_INVALID'
  | 'MANIFEST_NOT_FOUND'
  | 'USAGE'
  | 'FROZEN'
  | 'BUDGET'
  | 'LOCK_EDITED'
  | 'PROVIDER'
  | 'STORE'
  | 'REMOTE'
  | 'ABORTED'
  | 'INTERNAL'

/**
 * Base class of every error images-edit throws on purpose. `userFacing` errors are printed
 * without a stack trace; anything else is a bug.
 */
export class ImagesEditError extends Error {
  readonly code: ErrorCode
  readonly userFacing: boolean
  /** Survives duplicate copies of this package (as undici does with `Symbol.for`). */
  readonly [marker] = true

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; userFacing?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ImagesEditError'
    this.code = code
    this.userFacing = options?.userFacing ?? true
  }

  static is(value: unknown): value is ImagesEditError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true
  }
}

/** The manifest failed validation; carries every problem found, each with its location. */
export class ManifestError extends ImagesEditError {
  readonly diagnostics: readonly Diagnostic[]

  constructor(message: string, diagnostics: readonly Diagnostic[]) {
    super('MANIFEST_INVALID', message)
    this.name = 'ManifestError'
    this.diagnostics = diagnostics
  }
}

/** A run was refused before any work: frozen mode or the image budget. */
export class RefusalError extends ImagesEditError {
  /** One line per job that would have needed generation, with the reason. */
  readonly jobs: readonly { id: string; reason: string; newImages: number }[]

  constructor(code: 'FROZEN' | 'BUDGET' | 'REMOTE', message: string, jobs: readonly { id: string; reason: string; newImages: number }[]) {
    super(code, message)
    this.name = 'RefusalError'
    this.jobs = jobs
  }
}
