/**
 * A base URL ending in exactly one `/v1` (toapis, OpenAI): some clients append it twice
 * (providers.md §1.1), others leave it out. Takes a trimmed base without trailing slashes.
 */
export function withOneV1(base: string): string {
  let url = base
  while (url.endsWith('/v1/v1')) url = url.slice(0, -3)
  return url.endsWith('/v1') ? url : `${url}/v1`
}
