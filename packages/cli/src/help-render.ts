// Help as text: the overview and each command's page, rendered from the one description in help.ts.
import {
  COMMAND_NAMES,
  COMMANDS,
  type CommandName,
  type CommandSpec,
  FLAGS,
  type FlagName,
  type FlagSpec,
  type FlagUse,
  GLOBAL_FLAGS,
  useName,
} from './help.js'

const INDENT = '  '
const WIDTH = 80

function flagLabel(name: FlagName): string {
  const flag: FlagSpec = FLAGS[name]
  return `${flag.short ? `-${flag.short}, ` : '    '}--${name}${flag.value ? ` <${flag.value}>` : ''}`
}

const FLAG_WIDTH = Math.max(...(Object.keys(FLAGS) as FlagName[]).map((name) => flagLabel(name).length)) + 3
const COMMAND_WIDTH = Math.max(...COMMAND_NAMES.map((name) => name.length)) + 4

/** `left` padded to `width`, then `text` wrapped, continuation lines aligned under it. */
function row(left: string, text: string, width: number, indent = INDENT): string {
  const lines: string[] = []
  let current = ''
  for (const word of text.split(' ')) {
    if (current && indent.length + width + current.length + 1 + word.length > WIDTH) {
      lines.push(current)
      current = word
    } else current = current ? `${current} ${word}` : word
  }
  lines.push(current)
  return lines.map((line, index) => `${indent}${(index === 0 ? left : '').padEnd(width)}${line}`).join('\n')
}

function flagRows(uses: readonly FlagUse[]): string[] {
  return uses.map((use) => row(flagLabel(useName(use)), typeof use === 'string' ? FLAGS[use].description : use[1], FLAG_WIDTH))
}

function exampleRows(examples: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...examples.map(([line]) => line.length)) + 3
  return examples.map(([line, comment]) => `${INDENT}${line.padEnd(width)}# ${comment}`)
}

const EXIT_CODES = [
  `${INDENT}0 success · 1 some jobs failed · 2 invalid manifest or usage`,
  `${INDENT}3 refused (frozen, over budget, the team store could not be asked, or pull: an output of the lock is nowhere)`,
  `${INDENT}130 interrupted (rerun to collect results)`,
]

/** `images-edit --help`, `images-edit help`. */
export function renderOverview(): string {
  const sections = [
    'images-edit — AI image edits as a reproducible build step',
    ['Usage', `${INDENT}images-edit <command> [options] [recipe…]`, `${INDENT}images-edit help <command>          a command's options and examples`].join('\n'),
    ['Commands', ...COMMAND_NAMES.map((name) => row(name, COMMANDS[name].summary, COMMAND_WIDTH))].join('\n'),
    ['Options for every command', ...flagRows(GLOBAL_FLAGS)].join('\n'),
    ['Exit codes', ...EXIT_CODES].join('\n'),
    ['Examples', ...exampleRows(COMMAND_NAMES.filter((name) => name !== 'help').flatMap((name) => (COMMANDS[name] as CommandSpec).examples.slice(0, 1)))].join(
      '\n',
    ),
    'Run `images-edit help <command>` (or `images-edit <command> --help`) for the options of a command.',
  ]
  return `${sections.join('\n\n')}\n`
}

/** `images-edit help <command>`, `images-edit <command> --help`. */
export function renderCommandHelp(command: CommandName): string {
  const spec: CommandSpec = COMMANDS[command]
  const sections = [
    row('', `images-edit ${command} — ${spec.summary}`, 0, ''),
    ['Usage', `${INDENT}images-edit ${command}${spec.flags.length ? ' [options]' : ''}${spec.args ? ` ${spec.args}` : ''}`].join('\n'),
    ...(spec.details ? [row('', spec.details.join(' '), 0)] : []),
    ...(spec.flags.length ? [['Options', ...flagRows(spec.flags)].join('\n')] : []),
    ['Options for every command', ...flagRows(GLOBAL_FLAGS)].join('\n'),
    [spec.examples.length === 1 ? 'Example' : 'Examples', ...exampleRows(spec.examples)].join('\n'),
  ]
  return `${sections.join('\n\n')}\n`
}
