// Reported usage (what aa and OpenAI answer with) read as token counts, and turned into money where rates are known.
import { type Nanos, toNanos } from './money.js'
import type { TokenRates } from './price-types.js'

/** Token counts as a provider reported them; the text/image split only when it said. */
export interface TokenCounts {
  input: number
  output: number
  inputText?: number
  inputImage?: number
  outputText?: number
  outputImage?: number
}

const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined)
const field = (value: unknown, name: string): unknown => (value && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined)

/**
 * The tokens of one run's `usage` (`input_tokens`, `output_tokens`, and OpenAI's
 * `input_tokens_details` / `output_tokens_details`); undefined when it reports none (toapis
 * reports only an image count).
 */
export function tokensOf(usage: Record<string, unknown> | undefined): TokenCounts | undefined {
  const input = count(usage?.input_tokens)
  const output = count(usage?.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const inputDetails = usage?.input_tokens_details
  const outputDetails = usage?.output_tokens_details
  const parts = {
    inputText: count(field(inputDetails, 'text_tokens')),
    inputImage: count(field(inputDetails, 'image_tokens')),
    outputText: count(field(outputDetails, 'text_tokens')),
    outputImage: count(field(outputDetails, 'image_tokens')),
  }
  const counts: TokenCounts = { input: input ?? 0, output: output ?? 0 }
  for (const [name, value] of Object.entries(parts)) if (value !== undefined) counts[name as keyof typeof parts] = value
  return counts
}

/** Per-token price in {@link Nanos} of a rate per million tokens ($5/M is 5,000 per token). */
const perToken = (ratePerMillion: number) => toNanos(ratePerMillion) / 1e6

/**
 * What reported tokens cost at the given rates, or why that cannot be said: a rate is missing, or
 * the provider did not split input tokens into text and image and the two rates differ (aa).
 * Output tokens are image tokens unless the provider reports text among them.
 */
export function tokenCost(tokens: TokenCounts, rates: TokenRates | undefined): { nanos: Nanos } | { unknown: string } {
  if (!rates) return { unknown: 'no token rates' }
  const { textInput, imageInput, imageOutput } = rates
  let nanos = 0
  if (tokens.inputText !== undefined || tokens.inputImage !== undefined) {
    const text = tokens.inputText ?? 0
    const image = tokens.inputImage ?? Math.max(0, tokens.input - text)
    if ((text > 0 && textInput === undefined) || (image > 0 && imageInput === undefined)) return { unknown: 'tokens.textInput or tokens.imageInput is missing' }
    nanos += text * perToken(textInput ?? 0) + image * perToken(imageInput ?? 0)
  } else if (tokens.input > 0) {
    // Without the split, input tokens have one price only when both rates are the same.
    if (textInput === undefined || textInput !== imageInput)
      return {
        unknown: 'input tokens are reported without the text/image split, so they have a price only when tokens.textInput and tokens.imageInput are equal',
      }
    nanos += tokens.input * perToken(textInput)
  }
  if ((tokens.outputText ?? 0) > 0) return { unknown: 'text output tokens have no rate here' }
  if (tokens.output > 0) {
    if (imageOutput === undefined) return { unknown: 'tokens.imageOutput is missing' }
    nanos += (tokens.outputImage ?? tokens.output) * perToken(imageOutput)
  }
  return { nanos: Math.round(nanos) }
}
