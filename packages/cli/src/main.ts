import { readFileSync } from 'node:fs'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  closest,
  type Diagnostic,
  formatDiagnostic,
  fsError,
  type GcReport,
  ImagesEditError,
  isFsError,
  MANIFEST_NAME,
  ManifestError,
  openProject,
  type Project,
  type ProviderId,
  providerIds,
  RefusalError,
} from '@images-edit/core'
import pc from 'picocolors'
import { COMMAND_NAMES, type CommandName, commandsTaking, FLAGS, flagsOf, isCommand, isFlag, renderCommandHelp, renderOverview } from './help.js'
import { GITIGNORE_LINES, STARTER_MANIFEST } from './init-template.js'
import {
  createJsonReporter,
  createLiveReporter,
  createPlainReporter,
  formatBytes,
  type Output,
  type Reporter,
  type WarningOptions,
  warningEventText,
} from './reporters.js'
import { watchCommand } from './watch.js'

/** Exit codes (PRODUCT §7). */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, interrupted: 130 } as const

/** The commands that run against a project (`help` only prints). */
type Command = Exclude<CommandName, 'help'>
/** The `--provider` ids: core's built-in providers. */
const PROVIDERS: readonly ProviderId[] = providerIds

/** Streams and environment, injectable for tests. */
export interface MainIO {
  out?: Output['out']
  err?: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal
}

type Values = ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>>['values']

/** A mistake on the command line: exit 2, one line, and where to read more. */
class UsageError extends ImagesEditError {
  constructor(
    message: string,
    /** A second line, e.g. which help to read. */
    readonly hint?: string,
  ) {
    super('USAGE', message)
  }
}

/** What the command line asks for. */
type Request =
  | { kind: 'print'; text: string; code: number }
  | { kind: 'run'; command: Command; recipes: string[]; values: Values; provider: ProviderId | undefined }

const helpHint = (command?: string) => (command ? `Run \`images-edit help ${command}\` for its options.` : 'Run `images-edit help` for the list of commands.')

/** A close match, when there is one; never for one- or two-letter words (anything is close to them). */
function suggest(word: string, candidates: readonly string[]): string | undefined {
  return word.length < 3 ? undefined : closest(word, candidates)
}

function unknownCommand(word: string): UsageError {
  const guess = suggest(word, COMMAND_NAMES)
  return new UsageError(`unknown command "${word}".${guess ? ` Did you mean \`${guess}\`?` : ` Commands: ${COMMAND_NAMES.join(', ')}.`}`, helpHint())
}

/**
 * Reads the command line. Help and version requests become text to print; mistakes (an unknown
 * command, an unknown flag, a flag another command takes, a missing value) are {@link UsageError}s
 * with a suggestion, never the argument parser's own wording.
 */
function interpret(argv: readonly string[]): Request {
  // Not strict: every option is checked below, against the flags of the command it goes with.
  const { values, positionals, tokens } = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: false, tokens: true })
  const [word, ...rest] = positionals
  if (word === 'help') {
    const target = rest[0]
    if (target === undefined) return { kind: 'print', text: values.help ? renderCommandHelp('help') : renderOverview(), code: EXIT.ok }
    if (!isCommand(target)) throw unknownCommand(target)
    return { kind: 'print', text: renderCommandHelp(target), code: EXIT.ok }
  }
  if (word !== undefined && !isCommand(word)) throw unknownCommand(word)
  if (values.help) return { kind: 'print', text: word ? renderCommandHelp(word) : renderOverview(), code: EXIT.ok }
  if (values.version) return { kind: 'print', text: `${version()}\n`, code: EXIT.ok }
  if (word === undefined) return { kind: 'print', text: renderOverview(), code: EXIT.usage }
  const command = word as Command

  const accepted = flagsOf(command)
  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const raw = token.rawName
    if (!isFlag(token.name)) {
      const guess = raw.startsWith('--') ? suggest(token.name, accepted) : undefined
      throw new UsageError(`unknown option ${raw} for \`${command}\`.${guess ? ` Did you mean --${guess}?` : ''}`, helpHint(command))
    }
    const name = token.name
    if (!accepted.includes(name)) {
      const owners = commandsTaking(name).map((owner) => `\`${owner}\``)
      throw new UsageError(
        `--${name} applies to ${owners.length > 1 ? `${owners.slice(0, -1).join(', ')} and ${owners.at(-1)}` : owners[0]} only`,
        helpHint(command),
      )
    }
    const flag = FLAGS[name]
    if (flag.type === 'string') {
      // `--manifest --json`: the next word is an option, not this one's value.
      if (token.value === undefined || (!token.inlineValue && /^-[A-Za-z-]/.test(token.value))) {
        throw new UsageError(`${raw} needs a value: --${name} <${'value' in flag ? flag.value : 'value'}>`, helpHint(command))
      }
    } else if (token.value !== undefined) {
      throw new UsageError(`--${name} takes no value; got "${raw}=${token.value}"`, helpHint(command))
    }
  }
  const parsed = values as Values
  if (parsed.frozen && parsed['no-frozen']) throw new UsageError('--frozen and --no-frozen contradict each other', helpHint(command))
  if (parsed['keep-going'] && parsed['no-keep-going']) throw new UsageError('--keep-going and --no-keep-going contradict each other', helpHint(command))
  const provider = parsed.provider === undefined ? undefined : parseProvider(parsed.provider, command)
  return { kind: 'run', command, recipes: rest, values: parsed, provider }
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: MainIO = {}): Promise<number> {
  const env = io.env ?? process.env
  const outStream = io.out ?? process.stdout
  const errStream = io.err ?? process.stderr
  // `images-edit build --json | head -1`: the reader going away must not crash the run mid-way.
  const ignoreClosedPipe = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error
  }
  outStream.on?.('error', ignoreClosedPipe)
  const noColorFlag = argv.includes('--no-color')
  const colorEnabled =
    !noColorFlag && !('NO_COLOR' in env && env.NO_COLOR !== '') && (Boolean(outStream.isTTY) || ('FORCE_COLOR' in env && env.FORCE_COLOR !== '0'))
  const output: Output = {
    out: outStream,
    err: errStream,
    colors: pc.createColors(colorEnabled),
    quiet: argv.includes('--quiet') || argv.includes('-q'),
    verbose: argv.includes('--verbose') || argv.includes('-v'),
  }

  let request: Request
  try {
    request = interpret(argv)
  } catch (error) {
    return reportError(error, output, { json: argv.includes('--json') })
  }
  if (request.kind === 'print') {
    outStream.write(request.text)
    return request.code
  }
  const { command, recipes, values } = request
  output.quiet = Boolean(values.quiet)
  output.verbose = Boolean(values.verbose)

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
    return await run(command, recipes, values, output, {
      env,
      cwd: io.cwd ?? process.cwd(),
      signal: controller.signal,
      abandon: abandon.signal,
      provider: request.provider,
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
  context: { env: NodeJS.ProcessEnv; cwd: string; signal: AbortSignal; abandon: AbortSignal; provider: ProviderId | undefined },
): Promise<number> {
  if (command === 'init') return init(values, output, context.cwd)
  const providerOverride = context.provider
  const project = await openProject({
    cwd: context.cwd,
    env: context.env,
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
          frozen: explicitFrozen(values),
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

/** `--frozen` / `--no-frozen` as given; undefined lets core decide (frozen exactly when CI is set). */
function explicitFrozen(values: Values): boolean | undefined {
  return values.frozen ? true : values['no-frozen'] ? false : undefined
}

function parseProvider(value: string, command: Command): ProviderId {
  if (PROVIDERS.includes(value as ProviderId)) return value as ProviderId
  const guess = suggest(value, PROVIDERS)
  throw new UsageError(`--provider must be one of ${PROVIDERS.join(', ')}; got "${value}".${guess ? ` Did you mean ${guess}?` : ''}`, helpHint(command))
}

function parseCount(name: string, value: string | undefined, minimum: number): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < minimum) {
    throw new UsageError(`--${name} must be a whole number ≥ ${minimum}; got "${value}"`, helpHint('build'))
  }
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
  const frozen = explicitFrozen(values)
  const maxImages = parseCount('max-images', values['max-images'], 0)
  const concurrency = parseCount('concurrency', values.concurrency, 1)
  const strict = Boolean(values.strict)
  // Loaded here so its warnings are printed as validate and plan print them (file:line:col, the
  // line, the fix); the engine's copies of them in the event stream are then not printed again.
  const loaded = await project.loadValid(strict)
  const warnings = loaded.diagnostics.filter((item) => item.severity === 'warning')
  if (!values.json && !output.quiet) printDiagnostics(warnings, output, process.cwd(), false)
  const shown: WarningOptions = { manifestFile: relative(process.cwd(), project.manifestPath), printed: new Set(warnings.map(warningEventText)) }
  const reporter: Reporter = values.json
    ? createJsonReporter(output)
    : output.out.isTTY && !output.quiet
      ? await createLiveReporter(output, shown)
      : createPlainReporter(output, shown)
  let result: Awaited<ReturnType<Project['build']>>
  try {
    result = await project.build({
      loaded,
      only: recipes,
      force: values.force ?? [],
      ...(frozen !== undefined ? { frozen } : {}),
      ...(maxImages !== undefined ? { maxImages } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      keepGoing: !values['no-keep-going'],
      forceLock: Boolean(values['force-lock']),
      strict,
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
  const line = (text: string) => output.out.write(`${text}\n`)
  for (const path of report.outputs) line(`${verb} output ${path}`)
  // A result is named by the outputs it was written to when those go too; an output that stays
  // (edited by hand since) is not named, so no line reads as if it were deleted.
  const deleting = new Set(report.outputs)
  for (const result of report.results) line(`${verb} ${describeResult(result, deleting)}`)
  for (const take of report.takes) {
    const inUse = take.kept.length === 1 ? `take ${take.kept[0]} is in use` : `takes ${take.kept.join(', ')} are in use`
    line(
      `${verb} take ${take.take} of ${take.jobs.join(', ') || 'a job no longer in the manifest'} (${count(take.images, 'image')}, ${formatBytes(take.bytes)}; ${inUse})`,
    )
  }
  if (output.verbose) for (const hash of report.objects) line(`${verb} stored image ${hash.slice(0, 12)}`)
  const what = [
    ...(report.outputs.length ? [count(report.outputs.length, 'output file')] : []),
    ...(report.results.length ? [count(report.results.length, 'old result')] : []),
    ...(report.takes.length ? [count(report.takes.length, 'old take')] : []),
    ...(report.objects.length ? [count(report.objects.length, 'stored image')] : []),
  ]
  if (what.length === 0) {
    line(dryRun ? 'dry run: nothing to delete' : 'nothing to delete')
    return EXIT.ok
  }
  const list = what.length > 1 ? `${what.slice(0, -1).join(', ')} and ${what.at(-1)}` : what.join('')
  const freed = `freeing ${formatBytes(report.bytes)} in .images-edit/${report.outputs.length ? ` and ${formatBytes(report.outputBytes)} of outputs` : ''}`
  line(dryRun ? `dry run: would delete ${list}, ${freed}; run \`images-edit gc\` to delete them` : `deleted ${list}, ${freed}`)
  return EXIT.ok
}

/** A result record gc deletes: its key names no recipe, so say what it held and where it went. */
function describeResult(result: GcReport['results'][number], deletedOutputs: ReadonlySet<string>): string {
  if (result.provider === undefined) return `a damaged result record (${formatBytes(result.bytes)})`
  const facts = [
    `${result.provider} ${result.model}`,
    count(result.images, 'image'),
    formatBytes(result.bytes),
    ...(result.storedAt ? [`stored ${result.storedAt.slice(0, 16).replace('T', ' ')} UTC`] : []),
  ].join(', ')
  const outputs = result.outputs.filter((path) => deletedOutputs.has(path))
  return outputs.length ? `the old result behind ${outputs.join(', ')} (${facts})` : `an old result no recipe uses any more (${facts})`
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function reportError(error: unknown, output: Output, values: { json?: boolean | undefined; strict?: boolean | undefined }): number {
  const { colors: c } = output
  if (error instanceof UsageError) {
    if (values.json)
      output.out.write(`${JSON.stringify({ type: 'error', code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) })}\n`)
    output.err.write(`${c.red('error:')} ${error.message}\n${error.hint ? `${error.hint}\n` : ''}`)
    return EXIT.usage
  }
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
