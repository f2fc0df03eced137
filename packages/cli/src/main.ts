import { readFileSync } from 'node:fs'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type Diagnostic,
  formatDiagnostic,
  fsError,
  ImagesEditError,
  isCI,
  isFsError,
  MANIFEST_NAME,
  ManifestError,
  openProject,
  type Project,
  type ProviderId,
  RefusalError,
} from '@images-edit/core'
import pc from 'picocolors'
import { HELP } from './help.js'
import { GITIGNORE_LINES, STARTER_MANIFEST } from './init-template.js'
import { createJsonReporter, createLiveReporter, createPlainReporter, type Output, type Reporter } from './reporters.js'
import { watchCommand } from './watch.js'

/** Exit codes (PRODUCT §7). */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, interrupted: 130 } as const

const COMMANDS = ['init', 'validate', 'plan', 'build', 'watch', 'status', 'gc'] as const
type Command = (typeof COMMANDS)[number]
const PROVIDERS: readonly ProviderId[] = ['toapis', 'aa', 'openai', 'local']

/** Streams and environment, injectable for tests. */
export interface MainIO {
  out?: Output['out']
  err?: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal
}

const optionSpec = {
  manifest: { type: 'string', short: 'm' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  'no-color': { type: 'boolean' },
  strict: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  provider: { type: 'string' },
  concurrency: { type: 'string' },
  force: { type: 'string', multiple: true },
  frozen: { type: 'boolean' },
  'no-frozen': { type: 'boolean' },
  'max-images': { type: 'string' },
  'keep-going': { type: 'boolean' },
  'no-keep-going': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'force-lock': { type: 'boolean' },
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec; allowPositionals: true }>>['values']

class UsageError extends ImagesEditError {
  constructor(message: string) {
    super('USAGE', message)
  }
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: MainIO = {}): Promise<number> {
  const env = io.env ?? process.env
  const outStream = io.out ?? process.stdout
  const errStream = io.err ?? process.stderr
  let values: Values
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: [...argv], options: optionSpec, allowPositionals: true, strict: true }))
  } catch (error) {
    errStream.write(`images-edit: ${(error as Error).message}\nRun \`images-edit --help\` for usage.\n`)
    return EXIT.usage
  }
  // `images-edit build --json | head -1`: the reader going away must not crash the run mid-way.
  const ignoreClosedPipe = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error
  }
  outStream.on?.('error', ignoreClosedPipe)
  const colorEnabled =
    !values['no-color'] && !('NO_COLOR' in env && env.NO_COLOR !== '') && (Boolean(outStream.isTTY) || ('FORCE_COLOR' in env && env.FORCE_COLOR !== '0'))
  const output: Output = {
    out: outStream,
    err: errStream,
    colors: pc.createColors(colorEnabled),
    quiet: Boolean(values.quiet),
    verbose: Boolean(values.verbose),
  }

  if (values.version) {
    outStream.write(`${version()}\n`)
    return EXIT.ok
  }
  const [command, ...rest] = positionals
  if (values.help || !command) {
    outStream.write(HELP)
    return command || values.help ? EXIT.ok : EXIT.usage
  }
  if (!COMMANDS.includes(command as Command)) {
    errStream.write(`images-edit: unknown command "${command}". Commands: ${COMMANDS.join(', ')}.\nRun \`images-edit --help\` for usage.\n`)
    return EXIT.usage
  }

  // First Ctrl-C: stop starting work, let paid calls already sent be answered. Second: abandon
  // them (the engine names each job that may have been billed). Third: leave at once.
  const controller = new AbortController()
  const abandon = new AbortController()
  const onSignal = () => {
    if (abandon.signal.aborted) process.exit(EXIT.interrupted)
    if (controller.signal.aborted) abandon.abort()
    else controller.abort()
  }
  const ownSignal = !io.signal
  if (ownSignal) process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  io.signal?.addEventListener('abort', () => controller.abort(), { once: true })
  try {
    return await run(command as Command, rest, values, output, {
      env,
      cwd: io.cwd ?? process.cwd(),
      signal: controller.signal,
      abandon: abandon.signal,
    })
  } catch (error) {
    return reportError(error, output, values)
  } finally {
    if (ownSignal) process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
  }
}

async function run(
  command: Command,
  recipes: string[],
  values: Values,
  output: Output,
  context: { env: NodeJS.ProcessEnv; cwd: string; signal: AbortSignal; abandon: AbortSignal },
): Promise<number> {
  if (command === 'init') return init(values, output, context.cwd)
  checkOptions(command, values)
  const providerOverride = values.provider === undefined ? undefined : parseProvider(values.provider)
  const project = await openProject({
    cwd: context.cwd,
    ...(values.manifest ? { manifest: values.manifest } : {}),
    ...(providerOverride ? { providerOverride } : {}),
  })
  try {
    switch (command) {
      case 'validate':
        return await validate(project, values, output)
      case 'plan':
        return await plan(project, recipes, values, output)
      case 'build':
        return await build(project, recipes, values, output, context)
      case 'watch':
        await watchCommand(project, {
          recipes,
          frozen: values.frozen ? true : values['no-frozen'] ? false : isCI(context.env),
          json: Boolean(values.json),
          output,
          cwd: context.cwd,
          signal: context.signal,
          abandon: context.abandon,
          printDiagnostics,
        })
        // Watching only ends on Ctrl-C.
        return EXIT.interrupted
      case 'status':
        return await status(project, recipes, values, output)
      case 'gc':
        return await gc(project, values, output)
    }
  } finally {
    await project.close()
  }
}

const BUILD_ONLY = ['concurrency', 'force', 'frozen', 'no-frozen', 'max-images', 'keep-going', 'no-keep-going', 'force-lock'] as const

const WATCH_OPTIONS: readonly string[] = ['frozen', 'no-frozen']

function checkOptions(command: Command, values: Values): void {
  if (command === 'watch') {
    for (const name of BUILD_ONLY) if (!WATCH_OPTIONS.includes(name) && values[name] !== undefined) throw new UsageError(`--${name} applies to \`build\` only`)
  } else if (command !== 'build' && command !== 'plan') {
    for (const name of BUILD_ONLY) if (values[name] !== undefined) throw new UsageError(`--${name} applies to \`build\` only`)
  } else if (command === 'plan') {
    for (const name of BUILD_ONLY) if (name !== 'force' && values[name] !== undefined) throw new UsageError(`--${name} applies to \`build\` only`)
  }
  if (values['dry-run'] !== undefined && command !== 'gc') throw new UsageError('--dry-run applies to `gc` only')
  if (values.frozen && values['no-frozen']) throw new UsageError('--frozen and --no-frozen contradict each other')
  if (values['keep-going'] && values['no-keep-going']) throw new UsageError('--keep-going and --no-keep-going contradict each other')
}

function parseProvider(value: string): ProviderId {
  if (!PROVIDERS.includes(value as ProviderId)) throw new UsageError(`--provider must be one of ${PROVIDERS.join(', ')}; got "${value}"`)
  return value as ProviderId
}

function parseCount(name: string, value: string | undefined, minimum: number): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < minimum) throw new UsageError(`--${name} must be a whole number ≥ ${minimum}; got "${value}"`)
  return Number(value)
}

async function init(values: Values, output: Output, cwd: string): Promise<number> {
  const target = resolve(cwd, values.manifest ?? MANIFEST_NAME)
  const existing = await readFile(target, 'utf8').catch(() => undefined)
  if (existing !== undefined) {
    throw new UsageError(`${relative(cwd, target) || target} already exists; images-edit init never overwrites it. Edit it, or delete it first.`)
  }
  await writeFile(target, STARTER_MANIFEST, { flag: 'wx' })
  const gitignore = join(resolve(target, '..'), '.gitignore')
  const current = await readFile(gitignore, 'utf8').catch(() => '')
  if (!current.split(/\r?\n/).some((line) => line.trim() === '.images-edit/' || line.trim() === '.images-edit')) {
    await appendFile(gitignore, `${current && !current.endsWith('\n') ? '\n' : ''}${GITIGNORE_LINES.join('\n')}\n`)
  }
  output.out.write(
    `wrote ${relative(cwd, target) || target} and .gitignore lines for .images-edit/\nnext: add a reference image at refs/example.png, then run: npx images-edit build\n`,
  )
  return EXIT.ok
}

function printDiagnostics(diagnostics: readonly Diagnostic[], output: Output, cwd: string, strict: boolean): void {
  const { colors: c } = output
  for (const diagnostic of diagnostics) {
    const asError = diagnostic.severity === 'error' || strict
    const text = formatDiagnostic({ ...diagnostic, severity: asError ? 'error' : 'warning' }, { relativeTo: cwd })
    const [first, ...rest] = text.split('\n')
    output.err.write(
      `${asError ? c.red(first ?? '') : c.yellow(first ?? '')}\n${rest.map((line) => (line.startsWith('  fix:') ? c.cyan(line) : c.dim(line))).join('\n')}\n`,
    )
  }
}

async function validate(project: Project, values: Values, output: Output): Promise<number> {
  const loaded = await project.load()
  const strict = Boolean(values.strict)
  const errors = loaded.diagnostics.filter((item) => item.severity === 'error' || strict)
  const warnings = loaded.diagnostics.length - errors.length
  if (values.json) {
    output.out.write(`${JSON.stringify({ valid: errors.length === 0, manifest: loaded.file, jobs: loaded.jobs.length, diagnostics: loaded.diagnostics })}\n`)
  } else {
    printDiagnostics(loaded.diagnostics, output, process.cwd(), strict)
    if (errors.length === 0) {
      output.out.write(
        `${output.colors.green('✓')} ${relative(process.cwd(), loaded.file)} is valid: ${loaded.jobs.length} job${loaded.jobs.length === 1 ? '' : 's'} from ${new Set(loaded.jobs.map((job) => job.recipe)).size} recipe(s)${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}\n`,
      )
    } else {
      output.err.write(
        `${errors.length} error${errors.length === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''} in ${relative(process.cwd(), loaded.file)}\n`,
      )
    }
  }
  return errors.length === 0 ? EXIT.ok : EXIT.usage
}

async function plan(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const { loaded, plan: result } = await project.plan({ only: recipes, force: values.force ?? [], strict: Boolean(values.strict) })
  if (values.json) {
    output.out.write(
      `${JSON.stringify({
        newImages: result.newImages,
        paidImages: result.paidImages,
        jobs: result.jobs.map((item) => ({
          id: item.job.id,
          recipe: item.job.recipe,
          status: item.status,
          provider: item.job.provider,
          key: item.job.key,
          newImages: item.newImages,
          outputs: item.job.outputs,
          reasons: item.reasons,
        })),
      })}\n`,
    )
    return EXIT.ok
  }
  printDiagnostics(loaded.diagnostics, output, process.cwd(), false)
  const { colors: c } = output
  const marks = { fresh: c.dim('='), restore: c.cyan('↺'), generate: c.yellow('+'), blocked: c.red('!') }
  const words = { fresh: 'up to date', restore: 'restore (free)', generate: 'generate', blocked: 'blocked' }
  for (const item of result.jobs) {
    if (item.status === 'fresh' && !values.verbose) continue
    const cost =
      item.status === 'generate'
        ? ` ${item.newImages} image${item.newImages === 1 ? '' : 's'} on ${item.job.provider}${item.job.paid ? ' (paid)' : ' (free)'}`
        : ''
    output.out.write(`${marks[item.status]} ${item.job.id}: ${words[item.status]}${cost}\n`)
    for (const reason of item.reasons) output.out.write(`    ${c.dim('why:')} ${reason}\n`)
  }
  const counts = (status: string) => result.jobs.filter((item) => item.status === status).length
  output.out.write(
    `${result.jobs.length} jobs: ${counts('fresh')} up to date, ${counts('restore')} to restore, ${counts('generate')} to generate, ${counts('blocked')} blocked\n` +
      `${c.bold(`${result.newImages} new image${result.newImages === 1 ? '' : 's'}`)} would be generated, ${c.bold(`${result.paidImages} paid`)}\n`,
  )
  return EXIT.ok
}

async function build(
  project: Project,
  recipes: string[],
  values: Values,
  output: Output,
  context: { env: NodeJS.ProcessEnv; signal: AbortSignal; abandon: AbortSignal },
): Promise<number> {
  const reporter: Reporter = values.json
    ? createJsonReporter(output)
    : output.out.isTTY && !output.quiet
      ? await createLiveReporter(output)
      : createPlainReporter(output)
  const frozen = values.frozen ? true : values['no-frozen'] ? false : isCI(context.env)
  const maxImages = parseCount('max-images', values['max-images'], 0)
  const concurrency = parseCount('concurrency', values.concurrency, 1)
  let result: Awaited<ReturnType<Project['build']>>
  try {
    result = await project.build({
      only: recipes,
      force: values.force ?? [],
      frozen,
      ...(maxImages !== undefined ? { maxImages } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      keepGoing: !values['no-keep-going'],
      forceLock: Boolean(values['force-lock']),
      strict: Boolean(values.strict),
      signal: context.signal,
      abandon: context.abandon,
      onEvent: (event) => reporter.event(event),
    })
  } finally {
    reporter.close()
  }
  if (values.json) return exitOf(result)
  const { colors: c } = output
  const out = relative(process.cwd(), result.loaded.outDir) || '.'
  const newImages = result.done.reduce((sum, id) => sum + (result.plan.jobs.find((item) => item.job.id === id)?.newImages ?? 0), 0)
  const parts = [
    `${result.done.length} generated (${newImages} new image${newImages === 1 ? '' : 's'})`,
    `${result.fresh.length} up to date`,
    `${result.restored.length} restored`,
    result.failed.length ? c.red(`${result.failed.length} failed`) : '0 failed',
    ...(result.blocked.length ? [c.yellow(`${result.blocked.length} blocked`)] : []),
    ...(result.notStarted.length ? [c.yellow(`${result.notStarted.length} interrupted`)] : []),
  ]
  output.out.write(`${parts.join(', ')} · outputs in ${out}/${result.lockWritten ? ` · ${relative(process.cwd(), project.lockPath)} updated` : ''}\n`)
  if (result.failed.length > 0) {
    output.err.write(
      `${c.red('failed:')}\n${result.failed.map((item) => `  ${item.id}: ${item.error.message}`).join('\n')}\nRerun \`images-edit build\` to retry only what failed.\n`,
    )
  }
  const billed = result.failed.filter((item) => item.error.billed)
  if (billed.length > 0) {
    output.err.write(`${c.yellow('billed without a stored result:')}\n`)
    for (const item of billed)
      output.err.write(
        `  ${item.id}: ${item.error.billed === 'yes' ? 'billed' : 'may have been billed'}${item.error.taskId ? ` (task ${item.error.taskId})` : ''}\n`,
      )
  }
  if (result.interrupted) {
    const inFlight = await project.journal.list()
    output.err.write('interrupted: finished results are saved and recorded in the lock.\n')
    if (inFlight.length > 0) {
      output.err.write(`${inFlight.length} paid task${inFlight.length === 1 ? ' is' : 's are'} still in flight and journaled (not paid again on rerun):\n`)
      for (const entry of inFlight)
        output.err.write(`  ${entry.provider} task ${entry.taskId} (${entry.count} image${entry.count === 1 ? '' : 's'}, submitted ${entry.submittedAt})\n`)
    }
    output.err.write('Rerun `images-edit build` to collect the rest.\n')
  }
  return exitOf(result)
}

function exitOf(result: { interrupted: boolean; failed: unknown[]; blocked: unknown[] }): number {
  if (result.interrupted) return EXIT.interrupted
  return result.failed.length > 0 || result.blocked.length > 0 ? EXIT.failed : EXIT.ok
}

async function status(project: Project, recipes: string[], values: Values, output: Output): Promise<number> {
  const { jobs } = await project.status({ only: recipes })
  if (values.json) {
    output.out.write(`${JSON.stringify({ jobs })}\n`)
    return EXIT.ok
  }
  const { colors: c } = output
  const label = {
    'up-to-date': c.green('up to date'),
    stale: c.yellow('stale'),
    'missing-output': c.yellow('missing output'),
    modified: c.magenta('modified by hand'),
    blocked: c.red('blocked (edited output)'),
  }
  const width = Math.min(40, Math.max(8, ...jobs.map((job) => job.id.length)))
  for (const job of jobs) {
    output.out.write(`${job.id.padEnd(width)}  ${label[job.state]}${job.provider === 'local' ? c.dim(' [local placeholder]') : ''}\n`)
    if (job.state !== 'up-to-date') for (const reason of job.reasons) output.out.write(`${' '.repeat(width)}    ${c.dim(reason)}\n`)
  }
  const fresh = jobs.filter((job) => job.state === 'up-to-date').length
  output.out.write(`${fresh}/${jobs.length} up to date\n`)
  return EXIT.ok
}

async function gc(project: Project, values: Values, output: Output): Promise<number> {
  const dryRun = Boolean(values['dry-run'])
  const report = await project.gc({ dryRun })
  if (values.json) {
    output.out.write(`${JSON.stringify({ dryRun, ...report })}\n`)
    return EXIT.ok
  }
  const verb = dryRun ? 'would delete' : 'deleted'
  for (const path of report.outputs) output.out.write(`${verb} output ${path}\n`)
  for (const key of report.records) output.out.write(`${verb} record ${key.slice(0, 12)}\n`)
  for (const take of report.takes) output.out.write(`${verb} take ${take.take} of ${take.key.slice(0, 12)}\n`)
  if (values.verbose) for (const hash of report.objects) output.out.write(`${verb} object ${hash.slice(0, 12)}\n`)
  output.out.write(
    `${dryRun ? 'dry run: ' : ''}${report.outputs.length} output file(s), ${report.records.length} record(s), ${report.takes.length} old take(s), ${report.objects.length} object(s)${dryRun ? ' would be deleted; run `images-edit gc` to delete them' : ` deleted (${(report.bytes / 1024 / 1024).toFixed(1)} MiB of objects)`}\n`,
  )
  return EXIT.ok
}

function reportError(error: unknown, output: Output, values: Values): number {
  const { colors: c } = output
  if (error instanceof ManifestError) {
    if (values.json) output.out.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message, diagnostics: error.diagnostics })}\n`)
    printDiagnostics(error.diagnostics, output, process.cwd(), Boolean(values.strict))
    output.err.write(`${c.red('error:')} ${error.message}\n`)
    return EXIT.usage
  }
  if (error instanceof RefusalError) {
    if (values.json) output.out.write(`${JSON.stringify({ type: 'refused', code: error.code, message: error.message, jobs: error.jobs })}\n`)
    output.err.write(`${c.red('refused:')} ${error.message}\n`)
    for (const job of error.jobs) output.err.write(`  ${job.id}: ${job.newImages} new image${job.newImages === 1 ? '' : 's'} — ${job.reason}\n`)
    return EXIT.refused
  }
  // A read-only or full disk is the user's environment, not a bug: said plainly, with the path.
  if (!ImagesEditError.is(error) && isFsError(error)) error = fsError(error, { doing: 'a file operation' })
  if (ImagesEditError.is(error) && error.userFacing) {
    if (values.json) output.out.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message })}\n`)
    output.err.write(`${c.red('error:')} ${error.message}\n`)
    return error.code === 'USAGE' || error.code === 'MANIFEST_NOT_FOUND' || error.code === 'LOCK_EDITED' ? EXIT.usage : EXIT.failed
  }
  output.err.write(
    `${c.red('internal error')} — this is a bug in images-edit, please report it with the output below:\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  return EXIT.failed
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
