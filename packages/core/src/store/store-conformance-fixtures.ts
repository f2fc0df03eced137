// Fixtures of the ResultStore conformance suite: distinct bytes, records and a byte comparison. Test-only code.
import { createHash } from 'node:crypto'
import type { JobRecord } from './store.js'

export const hashOf = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

/** Distinct bytes of a given size. */
export function bytesOf(label: string, size = 4096): Uint8Array {
  const out = new Uint8Array(size)
  const seed = createHash('sha256').update(label).digest()
  for (let index = 0; index < size; index++) out[index] = (seed[index % seed.length] as number) ^ ((index * 31) % 251)
  return out
}

export function recordOf(label: string, images: readonly Uint8Array[] = [], take = 1): JobRecord {
  return {
    version: 1,
    key: hashOf(`key:${label}`),
    provider: 'local',
    model: 'local-v1',
    selectedTake: take,
    takes: [
      {
        take,
        images: images.map((bytes) => ({ sha256: hashOf(bytes), width: 8, height: 8, format: 'png', bytes: bytes.byteLength })),
        runs: [{ at: '2026-01-01T00:00:00.000Z', provider: 'local', model: 'local-v1', firstIndex: 0, count: images.length, warnings: [label] }],
      },
    ],
  }
}

export const same = (actual: Uint8Array | undefined, expected: Uint8Array): boolean =>
  actual !== undefined && Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected))
