// Reading a response body under a size cap and a minimum arrival rate.
import type { HttpContext } from './http-context.js'
import { fail, isPaid, type ProviderError, type Stage, safeHost } from './http-errors.js'

/**
 * Slowest average rate, in bytes per second, at which a response body may arrive once its grace
 * period (the call's `timeoutMs`) is over. A body of `n` bytes therefore ends within
 * `timeoutMs + n / MIN_BYTES_PER_SECOND` seconds at the latest (`n`: the declared Content-Length,
 * or the call's size cap), and a server that drips bytes is abandoned as soon as it falls behind.
 * 16 KiB/s is 128 kbit/s: a 64 MiB result may take 68 minutes, a 2 MB one two minutes past the grace.
 */
export const MIN_BYTES_PER_SECOND = 16 * 1024

/**
 * Reads a body, refusing more than `maxBytes` (an unbounded answer must not fill memory) and
 * abandoning it once it falls behind {@link MIN_BYTES_PER_SECOND} after `graceMs`: a server that
 * drips bytes never resets undici's inactivity timeouts, so they alone would wait forever.
 */
export async function readBody(
  body: AsyncIterable<Uint8Array> & { destroy(error?: Error): void },
  limits: { maxBytes: number; graceMs: number; declared: number | undefined },
  signal: AbortSignal,
  context: HttpContext,
  stage: Stage,
  url: string,
): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let length = 0
  const started = Date.now()
  let tooSlow = false
  const dueAt = () => started + limits.graceMs + (length / MIN_BYTES_PER_SECOND) * 1000
  let timer: NodeJS.Timeout | undefined
  const watch = () => {
    timer = setTimeout(
      () => {
        if (Date.now() < dueAt()) return watch()
        tooSlow = true
        body.destroy(new Error('response body too slow'))
      },
      Math.max(1, dueAt() - Date.now()),
    )
  }
  watch()
  try {
    for await (const chunk of body) {
      length += chunk.byteLength
      if (length > limits.maxBytes) {
        body.destroy()
        throw fail(context, `${context.provider}: the answer to ${stage} exceeded the ${limits.maxBytes}-byte cap and was abandoned`, {
          stage,
          // An oversized answer to a read can be read again; a paid call's answer cannot be.
          retryable: !isPaid(stage),
        })
      }
      chunks.push(chunk)
      if (signal.aborted) break
    }
  } catch (error) {
    if (tooSlow && !signal.aborted) throw slowError(context, stage, url, length, limits, Date.now() - started)
    throw error
  } finally {
    clearTimeout(timer)
  }
  return Buffer.concat(chunks)
}

function slowError(
  context: HttpContext,
  stage: Stage,
  url: string,
  length: number,
  limits: { maxBytes: number; graceMs: number; declared: number | undefined },
  elapsedMs: number,
): ProviderError {
  const expected = Math.min(limits.maxBytes, limits.declared ?? limits.maxBytes)
  const latest = Math.ceil((limits.graceMs + (expected / MIN_BYTES_PER_SECOND) * 1000) / 1000)
  const what =
    stage === 'download'
      ? `the download of a ${context.provider} result from ${safeHost(url)}`
      : `the answer of ${context.provider} to ${stage} (${safeHost(url)})`
  return fail(
    context,
    `${what} was too slow and was abandoned: ${length} ${limits.declared !== undefined ? `of ${limits.declared} ` : ''}bytes in ${Math.round(elapsedMs / 1000)} s, under the minimum of ${MIN_BYTES_PER_SECOND / 1024} KiB/s after a ${Math.round(limits.graceMs / 1000)} s grace (it would have had until ${latest} s)${isPaid(stage) ? '' : '; it is retried, and a rerun downloads again at no cost'}`,
    { stage, retryable: !isPaid(stage) },
  )
}
