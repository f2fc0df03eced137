// B1–B4: what a build costs when nothing (or one ref) changed, and what the first run on a fresh
// clone costs to hash everything.
import { open, rm, stat, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { cli, hashFilesFloor, repeat, scratch, stats, timed } from '../lib.mjs'
import { createCachedProject } from './cached-project.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)

async function nodeFloor() {
  return stats(await repeat(RUNS, async () => (await timed(process.execPath, ['-e', ''])).ms, 1))
}

/** Flips one byte of a file's padding in place, keeping its size and mtime. */
async function touchByte(path, offsetFromEnd = 8) {
  const info = await stat(path)
  const handle = await open(path, 'r+')
  const buffer = Buffer.alloc(1)
  const position = info.size - offsetFromEnd
  await handle.read(buffer, 0, 1, position)
  buffer[0] ^= 0xff
  await handle.write(buffer, 0, 1, position)
  await handle.close()
  await utimes(path, info.atime, info.mtime)
}

export async function noopSmall(selected, report) {
  const wanted = ['B1', 'B3', 'B4'].filter((id) => selected(id))
  if (wanted.length === 0) return
  const { dir, cleanup } = await scratch('b1')
  try {
    console.error('B1/B3/B4: writing 2,000 × 1 MiB refs and an up-to-date lock for 1,000 recipes × 4 refs…')
    const project = await createCachedProject(dir, { files: 2000, fileBytes: 1 << 20, recipes: 1000, refsPerRecipe: 4 })
    const build = (args = []) => cli(['build', '--frozen', ...args], { cwd: dir })

    // B3: a fresh clone — no stat cache — hashes every byte once. (Without B3, one build makes the stat cache B1 and B4 start from.)
    if (!selected('B3')) await build()
    if (selected('B3')) {
      const hashFloor = stats(await repeat(Math.min(RUNS, 5), () => hashFilesFloor([...project.refPaths, ...project.outputs]), 1))
      const fresh = stats(
        await repeat(Math.min(RUNS, 5), async () => {
          await rm(join(dir, '.images-edit'), { recursive: true, force: true })
          const result = await build()
          if (result.code !== 0) throw new Error(`B3 build failed: ${result.stderr}`)
          return result.ms
        }),
      )
      report({
        id: 'B3',
        scenario: 'first run on a fresh clone: 2 GiB of refs hashed (no stat cache)',
        floor: { label: 'sha256 of the same bytes, one pass (node:crypto)', ...hashFloor },
        measured: fresh,
        ratio: fresh.median / hashFloor.median,
        target: '≤ 1.3× floor',
        pass: fresh.median <= 1.3 * hashFloor.median,
      })
    }

    // B1: everything cached and warm.
    const floor = await nodeFloor()
    const noop = stats(await repeat(RUNS, async () => (await build()).ms, 1))
    if (selected('B1')) {
      report({
        id: 'B1',
        scenario: 'no-op build, 1,000 recipes × 4 refs over 2,000 × 1 MiB files, warm',
        floor: { label: '`node -e ""` start-up', ...floor },
        measured: noop,
        ratio: noop.median / floor.median,
        target: '≤ floor + 100 ms',
        pass: noop.median <= floor.median + 100,
        note: `floor + ${(noop.median - floor.median).toFixed(0)} ms`,
      })
    }

    // B4: one ref rewritten in place, same size and same mtime; frozen build refuses and lists
    // exactly the recipes that use it.
    if (selected('B4')) {
      let exact = true
      const changed = stats(
        await repeat(Math.min(RUNS, 5), async (trial) => {
          const file = trial * 37
          await touchByte(project.refPaths[file])
          const result = await build(['--json'])
          const refusal = result.stdout
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line))
            .find((event) => event.type === 'refused')
          const stale = (refusal?.jobs ?? []).map((job) => job.id).sort()
          const expected = [...(project.usersOf.get(file) ?? [])].sort()
          if (result.code !== 3 || JSON.stringify(stale) !== JSON.stringify(expected)) exact = false
          await touchByte(project.refPaths[file])
          await build()
          return result.ms
        }),
      )
      report({
        id: 'B4',
        scenario: 'one ref changed (same size, same mtime): exactly its 2 recipes stale',
        floor: { label: 'B1 (no-op build)', ...noop },
        measured: changed,
        ratio: changed.median / noop.median,
        target: '≤ B1 + 50 ms, exact stale set',
        pass: exact && changed.median <= noop.median + 50,
        note: `B1 + ${(changed.median - noop.median).toFixed(0)} ms; stale set ${exact ? 'exact' : 'WRONG'}`,
      })
    }
  } finally {
    await cleanup()
  }
}

export async function noopLarge(selected, report) {
  if (!selected('B2')) return
  const { dir, cleanup } = await scratch('b2')
  try {
    console.error('B2: writing 20,000 × 64 KiB refs and an up-to-date lock for 10,000 recipes × 16 refs…')
    await createCachedProject(dir, { files: 20000, fileBytes: 64 << 10, recipes: 10000, refsPerRecipe: 16 })
    const build = () => cli(['build', '--frozen'], { cwd: dir, expectCode: 0 })
    await build()
    const floor = await nodeFloor()
    const noop = stats(await repeat(RUNS, async () => (await build()).ms, 1))
    report({
      id: 'B2',
      scenario: 'B1 at 10× scale: 10,000 recipes × 16 refs over 20,000 × 64 KiB files',
      floor: { label: '`node -e ""` start-up', ...floor },
      measured: noop,
      ratio: noop.median / floor.median,
      target: '≤ 400 ms',
      pass: noop.median <= 400,
    })
  } finally {
    await cleanup()
  }
}
