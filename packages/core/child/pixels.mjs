// The pixel child: full decodes and upload re-encodes, run for the engine in a process of their own
// (packages/core/src/pixels/pixel-child.ts). Plain JavaScript outside src/ so that node runs it
// as it is, from the sources (tests) and from dist alike. Decoding a 17 MP ref touches ~50 MB of
// pixels; here glibc's allocator is told (MALLOC_MMAP_THRESHOLD_, set by the parent) to hand big
// blocks back at once, and the engine's own heap never holds them.
import { devNull } from 'node:os'
import sharp from 'sharp'

let running = 0
let peak = 0
let done = 0

/** Every pixel decoded, nothing kept: an uncompressed PNG written to the null device. */
async function decodes(path, limitInputPixels) {
  const input = () => sharp(path, { failOn: 'truncated', limitInputPixels })
  try {
    await input().png({ compressionLevel: 0 }).toFile(devNull)
  } catch {
    // The decoder's own complaint, as the check has always worded it (stats() reads every pixel
    // too); should the null device be what failed, this also answers that the file is sound.
    await input().stats()
  }
  return { ok: true }
}

/** A lossless PNG of an image: the same pixel grid (a mask still matches it), metadata kept. */
async function png(path, out) {
  const info = await sharp(path).keepMetadata().png().toFile(out)
  return { size: info.size }
}

/**
 * A JPEG of at most `limit` bytes: quality 90 down to 50, then scaled down by quarters. These
 * bytes are what gets uploaded: the pipeline must stay as it is (same bytes for the same file).
 */
async function jpeg(path, out, limit) {
  // No Huffman optimisation: it holds every coefficient for a second pass (~110 MiB on a 17 MP photo).
  const encode = (quality, width) => {
    const image = sharp(path).rotate().flatten({ background: '#ffffff' })
    return (width === undefined ? image : image.resize({ width })).jpeg({ quality, optimiseCoding: false }).toFile(out)
  }
  for (const quality of [90, 80, 70, 60, 50]) {
    const info = await encode(quality)
    if (info.size <= limit) return { size: info.size }
  }
  const meta = await sharp(path).metadata()
  let width = Math.round((meta.width ?? 4096) * 0.75)
  for (;;) {
    const info = await encode(80, width)
    if (info.size <= limit || width < 256) return { size: info.size }
    width = Math.round(width * 0.75)
  }
}

function run(task) {
  if (task.op === 'decodes') return decodes(task.path, task.limitInputPixels)
  if (task.op === 'png') return png(task.path, task.out)
  if (task.op === 'jpeg') return jpeg(task.path, task.out, task.limit)
  // What this child saw, for tests: the most tasks it ever ran at once.
  if (task.op === 'stats') return Promise.resolve({ peak, done })
  return Promise.reject(new Error(`unknown pixel task ${task.op}`))
}

process.on('message', async ({ id, task }) => {
  const counted = task.op !== 'stats'
  if (counted) peak = Math.max(peak, ++running)
  try {
    const result = await run(task)
    process.send?.({ id, ok: true, result })
  } catch (error) {
    process.send?.({ id, ok: false, message: error instanceof Error ? error.message : String(error) })
  } finally {
    if (counted) {
      running--
      done++
    }
  }
})
// The engine went away (exited, or let this child go when idle): nothing more to do.
process.on('disconnect', () => process.exit(0))
// Ctrl-C reaches the whole process group: the engine decides what an interrupt stops (work in
// flight may be let finish), and this child ends with it, on disconnect.
process.on('SIGINT', () => {})
