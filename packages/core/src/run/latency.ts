/** How many of the latest completed tasks per model the later-poll estimate follows. */
const WINDOW = 64

/** The share of tasks the first poll should find done. */
const FIRST_POLL_DONE = 0.8

/** How far one task's first poll moves the aim (a fraction of it). */
const STEP = 0.05

/**
 * What this process has seen of a provider's task latencies, per model: where a job aims its first
 * poll, and when a task that is still running is probably done.
 *
 * The first poll aims where 4 tasks in 5 are done: each fresh task's first poll moves the aim a
 * little earlier when it found the task done and later when it did not (a stochastic
 * approximation of that quantile), after a fast descent while every first poll finds its task done. It needs no exact latencies (a poll only tells "done by now"),
 * starts from the configured poll interval, and follows a service that speeds up or slows down. A
 * poll before the task ends costs a request; one after it costs slot time: aiming at 80 % keeps
 * polls near 1.2 a task while a task rarely waits long past its end.
 */
export class TaskLatencies {
  private readonly aims = new Map<string, number>()
  private readonly done = new Map<string, number[]>()
  /** Models for which a first poll has found a task still running. */
  private readonly bracketed = new Set<string>()

  /** When to poll a fresh task of `model` first (ms after its submit). */
  firstPoll(model: string, configured: number): number {
    return this.aims.get(model) ?? configured
  }

  /** A fresh task's first poll, aimed at `aim`, found it done or not. */
  firstPolled(model: string, aim: number, wasDone: boolean): void {
    const current = this.aims.get(model) ?? aim
    // Until a first poll finds a task still running, the aim may be far too late (a configured
    // interval of 5 s for 1 s tasks): it comes down fast, then follows in small steps.
    if (!this.bracketed.has(model) && wasDone) {
      this.aims.set(model, Math.max(1, current * 0.7))
      return
    }
    this.bracketed.add(model)
    this.aims.set(model, Math.max(1, current * (1 + STEP * (FIRST_POLL_DONE - (wasDone ? 1 : 0)))))
  }

  /** A fresh task of `model` was seen done `ms` after its submit. */
  completed(model: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return
    const samples = this.done.get(model) ?? []
    samples.push(ms)
    if (samples.length > WINDOW) samples.shift()
    this.done.set(model, samples)
  }

  /** The median time by which tasks of `model` still running after `elapsed` ms were seen done; undefined when none was. */
  doneAfter(model: string, elapsed: number): number | undefined {
    const later = (this.done.get(model) ?? []).filter((ms) => ms > elapsed).sort((a, b) => a - b)
    return later.length ? later[later.length >> 1] : undefined
  }

  /** The longest time a task of `model` took to be seen done (one running longer is probably not). */
  longest(model: string): number | undefined {
    const samples = this.done.get(model)
    return samples?.length ? Math.max(...samples) : undefined
  }
}
