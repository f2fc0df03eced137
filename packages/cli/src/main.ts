import { openProject, type ProviderId } from '@images-edit/core'
import pc from 'picocolors'
import { type Command, explicitFrozen, interpret, type Request, type Values } from './args.js'
import { build } from './commands/build.js'
import { gc } from './commands/gc.js'
import { init } from './commands/init.js'
import { pick } from './commands/pick.js'
import { plan } from './commands/plan.js'
import { pull } from './commands/pull.js'
import { push } from './commands/push.js'
import { status } from './commands/status.js'
import { takes } from './commands/takes.js'
import { validate } from './commands/validate.js'
import { printDiagnostics } from './diagnostics.js'
import { EXIT } from './exit-codes.js'
import { reportError } from './report-error.js'
import type { Output } from './reporters.js'

export { EXIT }

/** Streams and environment, injectable for tests. */
export interface MainIO {
  out?: Output['out']
  err?: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal
}

/** What a command runs with besides its flags. */
interface RunContext {
  env: NodeJS.ProcessEnv
  cwd: string
  signal: AbortSignal
  abandon: AbortSignal
  provider: ProviderId | undefined
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: MainIO = {}): Promise<number> {
  const env = io.env ?? process.env
  const output = createOutput(argv, io, env)
  let request: Request
  try {
    request = interpret(argv)
  } catch (error) {
    return reportError(error, output, { json: argv.includes('--json') })
  }
  if (request.kind === 'print') {
    output.out.write(request.text)
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

/** Where and how to write: colour unless `--no-color`, `NO_COLOR` or not a terminal (`FORCE_COLOR` forces it). */
function createOutput(argv: readonly string[], io: MainIO, env: NodeJS.ProcessEnv): Output {
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
  return {
    out: outStream,
    err: errStream,
    colors: pc.createColors(colorEnabled),
    quiet: argv.includes('--quiet') || argv.includes('-q'),
    verbose: argv.includes('--verbose') || argv.includes('-v'),
  }
}

/** Opens the project and runs one command against it (`init` needs none). */
async function run(command: Command, recipes: string[], values: Values, output: Output, context: RunContext): Promise<number> {
  if (command === 'init') return init(values, output, context.cwd)
  const providerOverride = context.provider
  const project = await openProject({
    cwd: context.cwd,
    env: context.env,
    ...(values.manifest ? { manifest: values.manifest } : {}),
    ...(providerOverride ? { providerOverride } : {}),
    ...(values['no-remote'] ? { remote: false } : {}),
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
        // Loaded only here: the watcher (chokidar) is not needed by any other command.
        await (await import('./commands/watch.js')).watchCommand(project, {
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
      case 'takes':
        return await takes(project, recipes, values, output)
      case 'pick':
        return await pick(project, recipes, values, output)
      case 'push':
        return await push(project, values, output)
      case 'pull':
        return await pull(project, recipes, values, output, context)
    }
  } finally {
    await project.close()
  }
}
