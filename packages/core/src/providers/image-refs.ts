import { readFile } from 'node:fs/promises'
import type { EditRequest, InputImage } from './provider.js'

/** An input as a JSON image reference: https URLs pass through, local files travel as data URLs. */
export async function toImageUrl(input: InputImage): Promise<string> {
  if (input.kind === 'url') return input.url
  const bytes = await readFile(input.path)
  return `data:image/${input.format};base64,${bytes.toString('base64')}`
}

/** OpenAI-style `size`: `WxH` from the expected size, or `auto`. */
export function sizeParameter(request: EditRequest): string {
  return request.size ? `${request.size.width}x${request.size.height}` : 'auto'
}
