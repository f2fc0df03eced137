import { closest, ImagesEditError } from '@images-edit/core'
import { COMMAND_NAMES } from './help.js'

/** A mistake on the command line: exit 2, one line, and where to read more. */
export class UsageError extends ImagesEditError {
  constructor(
    message: string,
    /** A second line, e.g. which help to read. */
    readonly hint?: string,
  ) {
    super('USAGE', message)
  }
}

/** The second line of a usage error: which help to read. */
export const helpHint = (command?: string) =>
  command ? `Run \`images-edit help ${command}\` for its options.` : 'Run `images-edit help` for the list of commands.'

/** A close match, when there is one; never for one- or two-letter words (anything is close to them). */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  return word.length < 3 ? undefined : closest(word, candidates)
}

/** A word that names no command, with the closest command or the list of them. */
export function unknownCommand(word: string): UsageError {
  const guess = suggest(word, COMMAND_NAMES)
  return new UsageError(`unknown command "${word}".${guess ? ` Did you mean \`${guess}\`?` : ` Commands: ${COMMAND_NAMES.join(', ')}.`}`, helpHint())
}
