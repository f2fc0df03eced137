import { describe, expect, it } from 'vitest'
import { tokenCost, tokensOf } from './usage.js'

/** OpenAI's `usage` of an edit (what the fake server answers too). */
const openaiUsage = {
  input_tokens: 266,
  output_tokens: 1056,
  total_tokens: 1322,
  input_tokens_details: { text_tokens: 10, image_tokens: 256 },
  output_tokens_details: { image_tokens: 1056, text_tokens: 0 },
}
/** aa's: no text/image split. */
const aaUsage = { images: 1, seconds: 3, input_tokens: 266, output_tokens: 1056, total_tokens: 1322 }

describe('reported usage', () => {
  it('reads the tokens as reported, with the split only where the provider gives it', () => {
    expect(tokensOf(openaiUsage)).toEqual({ input: 266, output: 1056, inputText: 10, inputImage: 256, outputText: 0, outputImage: 1056 })
    expect(tokensOf(aaUsage)).toEqual({ input: 266, output: 1056 })
    expect(tokensOf({ images: 2 })).toBeUndefined()
    expect(tokensOf(undefined)).toBeUndefined()
    expect(tokensOf({ input_tokens: -3, output_tokens: 'many' })).toBeUndefined()
  })

  it('turns tokens into money at per-million rates, exactly', () => {
    const tokens = tokensOf(openaiUsage)
    if (!tokens) throw new Error('no tokens')
    // 10 × $5/M + 256 × $8/M + 1056 × $32/M = $0.00005 + $0.002048 + $0.033792
    expect(tokenCost(tokens, { textInput: 5, imageInput: 8, imageOutput: 32 })).toEqual({ nanos: 35_890_000 })
    expect(tokenCost(tokens, undefined)).toEqual({ unknown: 'no token rates' })
    expect(tokenCost(tokens, { textInput: 5, imageInput: 8 })).toEqual({ unknown: 'tokens.imageOutput is missing' })
  })

  it('input tokens without the split have a price only when text and image input cost the same', () => {
    const tokens = tokensOf(aaUsage)
    if (!tokens) throw new Error('no tokens')
    expect(tokenCost(tokens, { textInput: 5, imageInput: 8, imageOutput: 32 })).toMatchObject({
      unknown: expect.stringMatching(/without the text\/image split/),
    })
    // 266 × $4/M + 1056 × $30/M
    expect(tokenCost(tokens, { textInput: 4, imageInput: 4, imageOutput: 30 })).toEqual({ nanos: 1_064_000 + 31_680_000 })
  })

  it('text among the output tokens has no rate: unknown, not priced as image tokens', () => {
    expect(tokenCost({ input: 0, output: 100, outputText: 20, outputImage: 80 }, { textInput: 1, imageInput: 1, imageOutput: 1 })).toEqual({
      unknown: 'text output tokens have no rate here',
    })
  })
})
