// "Did you mean …?" guesses: the closest known name to a misspelt one.
import { readdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { distance as distance_ } from 'fastest-levenshtein'

/** The candidate closest to `word` by edit distance, if it is reasonably close. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const distance = distance_(word.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

/** The name in the folder of a missing file `absolute` closest to its own, if any is close. */
export async function nearbyName(absolute: string): Promise<string | undefined> {
  try {
    const names = await readdir(dirname(absolute))
    return closest(absolute.slice(dirname(absolute).length + 1), names)
  } catch {
    return undefined
  }
}
