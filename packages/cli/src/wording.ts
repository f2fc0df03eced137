import type { JournalEntry } from '@images-edit/core'

/** `1 image`, `3 images`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

/** One journaled paid task, as build and watch list them when stopped: `  toapis task t-1 (2 images, submitted …)`. */
export function journaledTaskLine(entry: JournalEntry): string {
  return `  ${entry.provider} task ${entry.taskId} (${entry.count} image${entry.count === 1 ? '' : 's'}, submitted ${entry.submittedAt})\n`
}
