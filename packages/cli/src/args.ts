import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type ProviderId, providerIds } from '@images-edit/core'
import { EXIT } from './exit-codes.js'
import { type CommandName, commandsTaking, FLAGS, flagsOf, isCommand, isFlag } from './help.js'
import { renderCommandHelp, renderOverview } from './help-render.js'
import { helpHint, suggest, UsageError, unknownCommand } from './usage-error.js'

/** The commands that run against a project (`help` only prints). */
export type Command = Exclude<CommandName, 'help'>
/** The `--provider` ids: core's built-in providers. */
const PROVIDERS: readonly ProviderId[] = providerIds

/** The parsed flags of a command line. */
export type Values = ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>>['values']

/** What the command line asks for. */
export type Request =
  | { kind: 'print'; text: string; code: number }
  | { kind: 'run'; command: Command; recipes: string[]; values: Values; provider: ProviderId | undefined }

/** An option as the argument parser read it, before it is checked. */
interface OptionToken {
  name: string
  rawName: string
  value?: string | undefined
  inlineValue?: boolean | undefined
}

/**
 * Reads the command line. Help and version requests become text to print; mistakes (an unknown
 * command, an unknown flag, a flag another command takes, a missing value) are {@link UsageError}s
 * with a suggestion, never the argument parser's own wording.
 */
export function interpret(argv: readonly string[]): Request {
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

  for (const token of tokens) if (token.kind === 'option') checkOption(token, command)
  const parsed = values as Values
  if (parsed.frozen && parsed['no-frozen']) throw new UsageError('--frozen and --no-frozen contradict each other', helpHint(command))
  if (parsed['keep-going'] && parsed['no-keep-going']) throw new UsageError('--keep-going and --no-keep-going contradict each other', helpHint(command))
  const provider = parsed.provider === undefined ? undefined : parseProvider(parsed.provider, command)
  return { kind: 'run', command, recipes: rest, values: parsed, provider }
}

/** One option against the flags of its command: known, taken by this command, with a value exactly when it needs one. */
function checkOption(token: OptionToken, command: Command): void {
  const accepted = flagsOf(command)
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

/** `--frozen` / `--no-frozen` as given; undefined lets core decide (frozen exactly when CI is set). */
export function explicitFrozen(values: Values): boolean | undefined {
  return values.frozen ? true : values['no-frozen'] ? false : undefined
}

function parseProvider(value: string, command: Command): ProviderId {
  if (PROVIDERS.includes(value as ProviderId)) return value as ProviderId
  const guess = suggest(value, PROVIDERS)
  throw new UsageError(`--provider must be one of ${PROVIDERS.join(', ')}; got "${value}".${guess ? ` Did you mean ${guess}?` : ''}`, helpHint(command))
}

/** A whole-number flag (`--max-images`, `--concurrency`) of at least `minimum`; undefined when not given. */
export function parseCount(name: string, value: string | undefined, minimum: number): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < minimum) {
    throw new UsageError(`--${name} must be a whole number ≥ ${minimum}; got "${value}"`, helpHint('build'))
  }
  return Number(value)
}

/** An amount of money (`--max-spend`): a decimal number ≥ 0 in the manifest's currency; undefined when not given. */
export function parseAmount(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new UsageError(`--${name} must be an amount ≥ 0 in the manifest's prices.currency (default USD), e.g. 2.50; got "${value}"`, helpHint('build'))
  }
  return Number(value)
}

/** This package's version: its package.json is one folder up from the compiled modules, two from the bundle (dist/bundle/). */
function version(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string }
      if (pkg.name === 'images-edit') return pkg.version
    } catch {
      // Not this folder.
    }
  }
  return 'unknown'
}
