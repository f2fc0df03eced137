/**
 * The one description of the command line: every flag, every command and which flags it takes.
 * `images-edit --help`, `images-edit help <command>`, `<command> --help`, the argument parser's
 * option table and its per-command checks are all derived from here (the text: help-render.ts). Keep
 * README.md "CLI reference" in step (test/cli-speaks.test.ts checks that every flag and command is in it).
 */
import { builtins } from '@images-edit/core'

/** Core's providers for help: `toapis, aa, openai or local (offline, free)`. */
function providerList(): string {
  const names = builtins.map((definition) => (definition.kind === 'offline' ? `${definition.id} (offline, free)` : definition.id))
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('')
}

/** One command-line flag. */
export interface FlagSpec {
  type: 'boolean' | 'string'
  short?: string
  multiple?: boolean
  /** Placeholder of the value in help, e.g. `n` for `--max-images <n>`. */
  value?: string
  /** One line. */
  description: string
}

export const FLAGS = {
  manifest: { type: 'string', short: 'm', value: 'path', description: 'the manifest (default: images.edit.yaml here or above)' },
  json: { type: 'boolean', description: 'print JSON (build, watch: one event per line)' },
  quiet: { type: 'boolean', short: 'q', description: 'only errors and the summary' },
  verbose: { type: 'boolean', short: 'v', description: 'more detail (every job, with its reasons)' },
  'no-color': { type: 'boolean', description: 'no colours (NO_COLOR is honoured too)' },
  strict: { type: 'boolean', description: 'treat manifest warnings as errors' },
  help: { type: 'boolean', short: 'h', description: "show help (with a command: that command's options)" },
  version: { type: 'boolean', description: 'print the version' },
  provider: { type: 'string', value: 'id', description: `run every recipe on this provider: ${providerList()}` },
  concurrency: { type: 'string', value: 'n', description: "jobs in flight at once (default: the manifest's concurrency, else 8)" },
  force: { type: 'string', multiple: true, value: 'recipe', description: 'a new take for this recipe (paid again), overwriting edited outputs; repeatable' },
  frozen: { type: 'boolean', description: 'refuse to generate anything, exit 3 if something would be (default when CI is set)' },
  'no-frozen': { type: 'boolean', description: 'allow generating even when CI is set' },
  'max-images': { type: 'string', value: 'n', description: 'refuse a run that would generate more than n new images (exit 3)' },
  'max-spend': { type: 'string', value: 'amount', description: 'refuse a run whose estimate is over amount (prices.currency) or cannot be made (exit 3)' },
  cost: { type: 'boolean', description: 'what each recipe has cost so far: images, estimated money, reported usage, totals' },
  'keep-going': { type: 'boolean', description: 'finish the other jobs when one fails (the default)' },
  'no-keep-going': { type: 'boolean', description: 'stop at the first failed job' },
  'dry-run': { type: 'boolean', description: 'list what would be deleted and how many bytes it frees; delete nothing' },
  'force-lock': { type: 'boolean', description: 'rewrite images.edit.lock even though it was edited by hand' },
  all: { type: 'boolean', description: 'push every result stored locally, not only those queued' },
  'no-remote': { type: 'boolean', description: 'ignore the team store (remote: or IMAGES_EDIT_REMOTE); generate what is not stored locally' },
} as const satisfies Record<string, FlagSpec>

export type FlagName = keyof typeof FLAGS

/** Flags every command takes. */
export const GLOBAL_FLAGS: readonly FlagName[] = ['manifest', 'json', 'quiet', 'verbose', 'no-color', 'strict', 'help', 'version']

/** A flag a command takes, optionally with a description of what it means for that command. */
export type FlagUse = FlagName | readonly [FlagName, string]

/** One command: what the overview says about it, and what its own help shows. */
export interface CommandSpec {
  /** One line, for the overview and the head of the command's help. */
  summary: string
  /** Arguments after the command name. */
  args: string
  /** Flags beyond {@link GLOBAL_FLAGS}. */
  flags: readonly FlagUse[]
  /** Sentences shown (wrapped) in the command's help. */
  details?: readonly string[]
  /** `[command line, comment]`; the first one also appears in the overview. */
  examples: readonly (readonly [string, string])[]
}

export const COMMANDS = {
  init: {
    summary: 'write a commented starter images.edit.yaml and .gitignore lines',
    args: '',
    flags: [],
    details: ['Never overwrites an existing manifest. With --manifest <path>, writes the manifest there.'],
    examples: [['images-edit init', 'images.edit.yaml in this folder']],
  },
  validate: {
    summary: 'check the manifest (YAML, schema, providers, files); exit 0 or 2',
    args: '',
    flags: [['provider', 'check the recipes as if they all ran on this provider']],
    details: ['Every problem is reported at once, as file:line:col with the offending line and a fix.'],
    examples: [
      ['images-edit validate', 'check images.edit.yaml'],
      ['images-edit validate --strict', 'warnings fail too'],
    ],
  },
  plan: {
    summary: 'what a build would do, why each job is stale, what it would cost',
    args: '[recipe…]',
    flags: ['provider', ['force', 'plan a new take for this recipe, as build --force would; repeatable'], 'no-remote'],
    details: [
      "Shows how many new images would be generated and paid for, and what they would cost by the price table (OpenAI's public prices, and `prices:` in the manifest), per output image: input tokens are billed on top. An image with no known price is said so, never guessed. Generates nothing and asks for no API key.",
      'With a team store, what it has is fetched into the local store first and counted as free, as build would.',
    ],
    examples: [
      ['images-edit plan', 'what would run, and why'],
      ['images-edit plan --verbose', 'also the jobs that are up to date'],
    ],
  },
  build: {
    summary: 'restore what is stored, generate the rest, update the lock',
    args: '[recipe…]',
    flags: ['provider', 'concurrency', 'force', 'frozen', 'no-frozen', 'max-images', 'max-spend', 'keep-going', 'no-keep-going', 'force-lock', 'no-remote'],
    details: [
      'Writes the outputs and images.edit.lock.',
      'With a team store (remote: in the manifest, or IMAGES_EDIT_REMOTE), what is not stored locally is looked up there before anything is paid, and new results are pushed to it (docs/team.md). If the store cannot be asked, nothing is generated (exit 3) unless --no-remote.',
      'On a terminal a live view (one line per active job, an overall bar); elsewhere one plain line per state change.',
    ],
    examples: [
      ['images-edit build --provider local', 'everything offline, free'],
      ['images-edit build hero --force hero', 'a new take of hero (paid again)'],
      ['CI=true images-edit build', 'frozen: exit 3 if anything would be generated'],
    ],
  },
  watch: {
    summary: 'build, then rebuild the jobs whose inputs change, until Ctrl-C',
    args: '[recipe…]',
    flags: [['provider', 'as for build (e.g. local: try edits offline)'], 'frozen', 'no-frozen'],
    details: [
      'Watches the manifest, every ref and mask, and the folders of `each` globs; reruns exactly the jobs whose key changed.',
      'An invalid manifest edit prints the error and keeps the last good one.',
      'Ctrl-C stops (exit 130) and names the jobs still in flight; their paid tasks stay journaled.',
    ],
    examples: [
      ['images-edit watch --provider local', 'iterate on prompts offline'],
      ['images-edit watch hero', 'only the hero recipe'],
    ],
  },
  status: {
    summary: 'per job: up to date, stale (why), missing output, edited by hand; per output: local, remote-only or missing',
    args: '[recipe…]',
    flags: [['provider', 'as if every recipe ran on this provider'], ['no-remote', 'do not ask the team store about outputs that are not here'], 'cost'],
    details: [
      'With a team store, outputs not here are looked up there (nothing is copied): remote-only ones are restored by `images-edit pull`, missing ones would be generated by a build.',
    ],
    examples: [
      ['images-edit status', 'every job'],
      ['images-edit status --json', 'one JSON document'],
      ['images-edit status --cost', 'what each recipe has cost so far'],
    ],
  },
  gc: {
    summary: 'delete what nothing references (run with --dry-run first)',
    args: '',
    flags: ['dry-run'],
    details: ['Only files images-edit wrote are deleted, and never the take the lock uses.'],
    examples: [
      ['images-edit gc --dry-run', 'what would go, and how much it frees'],
      ['images-edit gc', 'delete it'],
    ],
  },
  takes: {
    summary: "a recipe's takes and candidates: when, provider, model, size, cost, which is picked, where the file is",
    args: '[recipe…]',
    flags: [],
    details: [
      'Every `--force` adds a take; a recipe with `candidates:` makes that many images per take, of which `n` are the outputs. Earlier takes stay in .images-edit/ until gc, which keeps the take the lock points at.',
      'Reads the local store and the lock only: no API key, no network.',
    ],
    examples: [
      ['images-edit takes hero', 'every take of hero, the picked image marked'],
      ['images-edit takes --json', 'every job, one JSON document'],
    ],
  },
  pick: {
    summary: 'make other images of a take the outputs: pick <job> <take>[/<image>], free',
    args: '<job> <take>[/<image>[,<image>…]]',
    flags: ['force-lock'],
    details: [
      'Writes the picked images to the outputs from the local store and records the pick in images.edit.lock, so a fresh clone rebuilds the picked ones with zero calls. Never generates and asks for no API key.',
      'For a recipe with several outputs, name one image per output: 2/3,1. An output edited by hand is never overwritten: nothing is picked.',
    ],
    examples: [
      ['images-edit pick hero 2', 'outputs back to take 2'],
      ['images-edit pick hero 3/2', 'the second candidate of take 3'],
    ],
  },
  pull: {
    summary: 'restore every output the lock names from the team store; never generates (docs/team.md)',
    args: '[recipe…]',
    flags: ['force-lock'],
    details: [
      'For teams that keep outputs out of git: objects are fetched by the sha256 the lock pins (read access to the bucket is enough, no API key), then by the signed records.',
      'Exit 3 when an output the lock names is in neither the local store nor the team store, or the store cannot be asked; jobs the lock does not name yet are listed, not generated.',
    ],
    examples: [
      ['images-edit pull', 'every output of the lock'],
      ['images-edit pull hero', 'only the hero recipe'],
    ],
  },
  push: {
    summary: 'upload results queued for the team store (docs/team.md)',
    args: '',
    flags: ['all'],
    details: [
      'A build pushes what it generated; what it could not push stays queued in .images-edit/push-queue/ for the next build or this command.',
      'Objects go before the records naming them; records are signed with IMAGES_EDIT_REMOTE_KEY.',
    ],
    examples: [
      ['images-edit push', 'what is queued'],
      ['images-edit push --all', 'every result stored here (e.g. after building with --no-remote)'],
    ],
  },
  help: {
    summary: "a command's usage, options and examples (or: <command> --help)",
    args: '[command]',
    flags: [],
    examples: [['images-edit help build', "build's options"]],
  },
} as const satisfies Record<string, CommandSpec>

export type CommandName = keyof typeof COMMANDS

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[]

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name)
}

export function isFlag(name: string): name is FlagName {
  return Object.hasOwn(FLAGS, name)
}

/** The flag a {@link FlagUse} names. */
export function useName(use: FlagUse): FlagName {
  return typeof use === 'string' ? use : use[0]
}

/** Every flag `command` takes: its own, then the global ones. */
export function flagsOf(command: CommandName): FlagName[] {
  return [...(COMMANDS[command] as CommandSpec).flags.map(useName), ...GLOBAL_FLAGS]
}

/** The commands that take `flag` as their own (not counting global flags). */
export function commandsTaking(flag: FlagName): CommandName[] {
  return COMMAND_NAMES.filter((name) => (COMMANDS[name] as CommandSpec).flags.some((use) => useName(use) === flag))
}
