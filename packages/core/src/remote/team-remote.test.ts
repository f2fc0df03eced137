import { describe, expect, it } from 'vitest'
import type { JobRecord } from '../store/store.js'
import { bytesOf, recordOf } from '../store/store-conformance-fixtures.js'
import { mergeRecords } from './team-remote.js'

const withTakes = (label: string, takes: Record<number, number>): JobRecord => {
  const base = recordOf(label)
  return {
    ...base,
    takes: Object.entries(takes).map(([take, images]) => ({
      take: Number(take),
      images: Array.from({ length: images }, (_, index) => ({ sha256: `${label}-${take}-${index}`, width: 8, height: 8, format: 'png' as const, bytes: 1 })),
      runs: [],
    })),
  }
}

describe('mergeRecords (what a push writes over the bucket’s record)', () => {
  it('keeps every take of both, ours where both have the same number and size', () => {
    const merged = mergeRecords(withTakes('theirs', { 1: 1, 3: 1 }), withTakes('ours', { 1: 1, 2: 1 }))
    expect(merged.takes.map((take) => [take.take, take.images[0]?.sha256])).toEqual([
      [1, 'ours-1-0'],
      [2, 'ours-2-0'],
      [3, 'theirs-3-0'],
    ])
  })

  it('never replaces a complete take with a partial one', () => {
    const merged = mergeRecords(withTakes('theirs', { 1: 4 }), withTakes('ours', { 1: 2 }))
    expect(merged.takes[0]?.images).toHaveLength(4)
    expect(merged.takes[0]?.images[0]?.sha256).toBe('theirs-1-0')
  })

  it('with nothing in the bucket, is ours', () => {
    const ours = recordOf('alone', [bytesOf('x')])
    expect(mergeRecords(undefined, ours)).toBe(ours)
  })
})
