/**
 * Conformance cases for `putObjectFrom`: an object streamed into the store (a download) is
 * visible only once complete and verified; bytes that do not match, or a source that fails,
 * leave nothing. Test-only code, like `store-conformance.ts`: excluded from the package build.
 */
import { describe, expect, it } from 'vitest'
import type { CurrentStore } from './store-conformance.js'
import { bytesOf, hashOf, same } from './store-conformance-fixtures.js'

/** `bytes` in chunks of `size` (a download's shape), pausing before the chunk at `holdAt` until `resume` resolves. */
async function* chunksOf(bytes: Uint8Array, size: number, hold?: { at: number; reached: () => void; resume: Promise<void> }): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) {
    if (hold && offset >= hold.at && offset - size < hold.at) {
      hold.reached()
      await hold.resume
    }
    yield bytes.slice(offset, offset + size)
  }
}

/** A source that yields half of `bytes`, then fails (a connection dropped mid-download). */
async function* failingHalfway(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes.slice(0, bytes.byteLength >> 1)
  throw new Error('connection reset')
}

/** `putObjectFrom`: streamed, verified before visible, nothing left by a mismatch or a failure. */
export function streamedPuts(t: () => CurrentStore): void {
  describe('streamed puts', () => {
    it('stores a streamed object that hashes to its name, and nothing visible before it is whole', async () => {
      const { store, faults } = t()
      const bytes = bytesOf('streamed', 3_000_000)
      const hash = hashOf(bytes)
      let reached!: () => void
      const halfway = new Promise<void>((resolve) => {
        reached = resolve
      })
      let resume!: () => void
      const held = new Promise<void>((resolve) => {
        resume = resolve
      })
      const putting = store.putObjectFrom(chunksOf(bytes, 65_536, { at: 1_500_000, reached, resume: held }), hash)
      await halfway
      // Half of it has been written somewhere: none of it is visible under its name.
      expect(await store.hasObject(hash)).toBe(false)
      expect(await store.getObject(hash)).toBeUndefined()
      expect(await store.listObjects()).toEqual([])
      resume()
      expect(await putting).toBe(true)
      expect(same(await store.getObject(hash), bytes)).toBe(true)
      expect(await store.listObjects()).toEqual([hash])
      expect(await faults.leftovers()).toBe(0)
    })

    it('refuses bytes that do not hash to the name: nothing stored, nothing left, a sound copy kept', async () => {
      const { store, faults } = t()
      const bytes = bytesOf('tampered', 200_000)
      const hash = hashOf(bytes)
      const flipped = bytes.slice()
      flipped[1234] = (flipped[1234] as number) ^ 0xff
      expect(await store.putObjectFrom(chunksOf(flipped, 16_384), hash)).toBe(false)
      expect(await store.putObjectFrom(chunksOf(bytes.slice(0, 100_000), 16_384), hash)).toBe(false)
      expect(await store.hasObject(hash)).toBe(false)
      expect(await store.listObjects()).toEqual([])
      expect(await faults.leftovers()).toBe(0)
      await store.putObject(bytes)
      expect(await store.putObjectFrom(chunksOf(flipped, 16_384), hash)).toBe(false)
      expect(same(await store.getObject(hash), bytes)).toBe(true)
    })

    it('a source failing mid-way throws and leaves nothing', async () => {
      const { store, faults } = t()
      const bytes = bytesOf('cut short', 200_000)
      const hash = hashOf(bytes)
      await expect(store.putObjectFrom(failingHalfway(bytes), hash)).rejects.toThrow(/connection reset/)
      expect(await store.hasObject(hash)).toBe(false)
      expect(await store.listObjects()).toEqual([])
      expect(await faults.leftovers()).toBe(0)
    })

    it('replaces a damaged copy with the streamed one', async () => {
      const { store, faults } = t()
      const bytes = bytesOf('repaired', 100_000)
      const hash = await store.putObject(bytes)
      await faults.corruptObject(hash)
      expect(await store.getObject(hash)).toBeUndefined()
      expect(await store.putObjectFrom(chunksOf(bytes, 8_192), hash)).toBe(true)
      expect(same(await store.getObject(hash), bytes)).toBe(true)
    })
  })
}
