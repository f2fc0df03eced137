/**
 * Fault injection for the crash-safety tests: with `IMAGES_EDIT_CRASH_AT=<point>` (or
 * `<point>:<n>` for the n-th time the point is reached) the process kills itself with SIGKILL
 * right there, exactly as `kill -9` would. Inert otherwise: one environment lookup per point.
 */
export type CrashPoint = 'after-upload' | 'after-submit' | 'mid-poll' | 'mid-download' | 'mid-commit-store' | 'mid-commit-output' | 'mid-commit-lock'

const reached = new Map<string, number>()

/** Kills the process here if the environment asks for it. */
export function crashPoint(point: CrashPoint): void {
  const wanted = process.env.IMAGES_EDIT_CRASH_AT
  if (!wanted) return
  const [name, nth] = wanted.split(':')
  if (name !== point) return
  const count = (reached.get(point) ?? 0) + 1
  reached.set(point, count)
  if (count >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL')
}
