// B8–B9: peak RSS of `images-edit build` on big inputs: recipes with 16 refs of 50 MB each plus a
// mask, on toapis (fake server), so each build hashes every byte, re-encodes every ref to a JPEG
// under toapis' 10 MB upload limit with sharp, uploads it, and submits. Every run starts without a
// store, lock or outputs, so everything is hashed, uploaded and generated again.
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { startFakeProviderServer } from '@images-edit/fake-provider'
import sharp from 'sharp'
import { benchRuns, cliBin, fakeProviderEnv, peakRss, repoRoot, scratch, spawnLines, stats, withUsage } from '../lib.mjs'

const REFS_PER_JOB = 16
const REF_BYTES = 50_000_000
// 5100 × 3450 (17.6 MP) of a gradient with gaussian noise (σ 8): a photo-like PNG of about
// 49 MB, padded to exactly 50 MB with a private ancillary chunk that also makes each file unique.
// Photo-like on purpose: its JPEG re-encode fits toapis' 10 MB limit at the first quality (90),
// as a real photo's does; pure noise would need five encodes and a resize.
const WIDTH = 5100
const HEIGHT = 3450
const MiB = 1024 * 1024

/** One PNG chunk: length, type, data, CRC of type + data. */
function chunk(type, data) {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))) >>> 0, 0)
  return Buffer.concat([head, data, crc])
}

export async function basePng() {
  const noise = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 8 } } })
    .raw()
    .toBuffer()
  for (let y = 0, i = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++, i += 3) {
      const base = [(x * 255) / WIDTH, (y * 255) / HEIGHT, ((x + y) * 127) / (WIDTH + HEIGHT)]
      for (let c = 0; c < 3; c++) noise[i + c] = Math.max(0, Math.min(255, base[c] + noise[i + c] - 128))
    }
  }
  const png = await sharp(noise, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer()
  if (png.length + 12 + 16 > REF_BYTES) throw new Error(`base PNG is ${png.length} bytes, over ${REF_BYTES}; lower WIDTH × HEIGHT`)
  return png
}

/** Writes `png` with a private `bpAd` chunk before IEND: unique by `tag`, `size` bytes in all. */
async function writeTagged(path, png, tag, size) {
  const body = png.subarray(0, png.length - 12)
  const iend = png.subarray(png.length - 12)
  const fill = size === undefined ? 0 : size - png.length - 12
  const data = Buffer.alloc(Math.max(fill, 32))
  data.write(tag, 0, 'latin1')
  // Unique filler after the tag, so no two files share bytes beyond the image itself.
  for (let offset = 32; offset + 4 <= data.length; offset += 4) data.writeUInt32BE((offset * 2654435761 + tag.length * 97 + hash(tag)) >>> 0, offset)
  const handle = await open(path, 'w')
  try {
    await handle.writev([body, chunk('bpAd', data), iend])
  } finally {
    await handle.close()
  }
}

function hash(text) {
  let value = 0
  for (const char of text) value = (value * 31 + char.charCodeAt(0)) >>> 0
  return value
}

/** The mask: RGBA, the refs' size, a transparent rectangle (to repaint) in an opaque field. */
export async function basePngMask() {
  const raw = Buffer.alloc(WIDTH * HEIGHT * 4, 255)
  for (let y = Math.floor(HEIGHT / 4); y < Math.floor((HEIGHT * 3) / 4); y++) {
    for (let x = Math.floor(WIDTH / 4); x < Math.floor((WIDTH * 3) / 4); x++) raw[(y * WIDTH + x) * 4 + 3] = 0
  }
  return sharp(raw, { raw: { width: WIDTH, height: HEIGHT, channels: 4 } })
    .png()
    .toBuffer()
}

const refPath = (job, ref) => `big/j${job}-r${String(ref).padStart(2, '0')}.png`
const maskPath = (job) => `big/j${job}-mask.png`

/** Big inputs for jobs `[from, to)`, each job with its own 16 refs and mask. */
export async function writeBigInputs(dir, from, to, images) {
  await mkdir(join(dir, 'big'), { recursive: true })
  for (let job = from; job < to; job++) {
    for (let ref = 0; ref < REFS_PER_JOB; ref++) await writeTagged(join(dir, refPath(job, ref)), images.png, `job ${job} ref ${ref}`, REF_BYTES)
    await writeTagged(join(dir, maskPath(job)), images.mask, `job ${job} mask`)
  }
}

export async function writeManifest(dir, jobs) {
  const lines = [
    'version: 1',
    'out: generated',
    `concurrency: ${jobs}`,
    'defaults: { provider: toapis, ratio: "1:1", resolution: 1k, format: png, quality: low }',
    `providers:\n  toapis: { concurrency: ${jobs}, pollIntervalMs: 200 }`,
    'recipes:',
  ]
  for (let job = 0; job < jobs; job++) {
    const refs = Array.from({ length: REFS_PER_JOB }, (_, ref) => refPath(job, ref))
    lines.push(`  big${job}:`, `    prompt: big job ${job}`, `    refs: [${refs.join(', ')}]`, `    mask: ${maskPath(job)}`)
  }
  await writeFile(join(dir, 'images.edit.yaml'), `${lines.join('\n')}\n`)
}

/** Peak RSS of a process that imports sharp (libvips loaded) and reads nothing. */
async function baseline(runs) {
  const values = []
  for (let run = 0; run < runs; run++) {
    const result = await peakRss(process.execPath, ['--input-type=module', '-e', "const { default: sharp } = await import('sharp'); sharp.versions"], {
      cwd: repoRoot,
    })
    if (result.code !== 0) throw new Error(`baseline failed: ${result.stderr}`)
    values.push(result.kib / 1024)
  }
  return { ...stats(values), method: (await peakRss(process.execPath, ['-e', ''])).method }
}

/** `pid` and its descendants, from /proc/<pid>/task/<tid>/children (Linux). */
async function processTree(pid) {
  const pids = [pid]
  for (let index = 0; index < pids.length; index++) {
    const tasks = await readdir(`/proc/${pids[index]}/task`).catch(() => [])
    for (const task of tasks) {
      const children = await readFile(`/proc/${pids[index]}/task/${task}/children`, 'utf8').catch(() => '')
      for (const child of children.split(' ').filter(Boolean)) pids.push(Number(child))
    }
  }
  return pids
}

/**
 * Resident memory (KiB) of the processes under `root` (itself excluded when it is only the `time`
 * wrapper), as one footprint: private and anonymous pages summed, pages of a mapped file (node's
 * binary, libvips) counted once, at the largest any process has resident, since the processes
 * share them through the page cache. Read from /proc/<pid>/smaps (Linux).
 */
async function treeRss(root, wrapped, ticks) {
  const pids = await processTree(root)
  let anon = 0
  const files = new Map()
  for (const pid of wrapped ? pids.slice(1) : pids) {
    const perFile = new Map()
    let mapping = ''
    for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8').catch(() => '')).split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
      if (head) mapping = head[1].startsWith('/') ? head[1] : ''
      else if (line.startsWith('Rss:')) {
        const kib = Number(line.slice(4).trim().split(' ')[0])
        if (mapping) perFile.set(mapping, (perFile.get(mapping) ?? 0) + kib)
        else anon += kib
      }
    }
    for (const [file, kib] of perFile) files.set(file, Math.max(files.get(file) ?? 0, kib))
    // utime + stime (fields 14 and 15, after the parenthesised command name), for CPU time
    // GNU time does not see: the CLI's children are not waited for.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields.length > 13) ticks.set(pid, Number(fields[11]) + Number(fields[12]))
  }
  return anon + [...files.values()].reduce((sum, kib) => sum + kib, 0)
}

/** The note of B8 and B9: what the peak is made of, wall and CPU time. */
function memoryNote(results, floor, measured) {
  const median = (pick) => stats(results.map(pick)).median
  const cpu = results.every((result) => result.cpuMs !== undefined)
    ? `; CPU ${(median((result) => result.cpuMs) / 1000).toFixed(1)} s (CLI ${(median((result) => result.cliCpuMs) / 1000).toFixed(1)} s)`
    : ''
  return `baseline + ${(measured.median - floor.median).toFixed(0)} MiB (CLI process alone ${median((result) => result.cliMib).toFixed(0)} MiB, process tree ${median((result) => result.treeMib).toFixed(0)} MiB, shared file pages once); build wall ${(median((result) => result.ms) / 1000).toFixed(1)} s${cpu}; ${results[0].uploads} uploads/run`
}

/**
 * One fresh build of `jobs` big jobs: peak RSS (MiB) and wall time of the CLI. The engine runs
 * decodes and re-encodes in a child process, which GNU time's %M does not add to the CLI's own:
 * the figure is the larger of that and the whole tree's footprint ({@link treeRss}), sampled every
 * 50 ms.
 */
async function buildOnce(dir, jobs) {
  await Promise.all(['.images-edit', 'images.edit.lock', 'generated'].map((name) => rm(join(dir, name), { recursive: true, force: true })))
  const server = await startFakeProviderServer({ latencyMs: 200 })
  const wrapped = await withUsage(process.execPath, [cliBin, 'build', '--json', '--no-frozen'])
  try {
    let done = 0
    let hwm = 0
    // Fallback when GNU time is missing: poll VmHWM while it runs.
    const started = performance.now()
    const { child, exited } = spawnLines(wrapped.command, wrapped.args, {
      cwd: dir,
      env: fakeProviderEnv(server),
      onLine: (line) => {
        if (line.includes('"type":"job:done"')) done++
      },
    })
    let treeKib = 0
    let sampling = false
    const ticks = new Map()
    const poll = setInterval(async () => {
      if (sampling) return
      sampling = true
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '')
      const match = /VmHWM:\s+(\d+) kB/.exec(status)
      if (match) hwm = Math.max(hwm, Number(match[1]))
      treeKib = Math.max(treeKib, await treeRss(child.pid, wrapped.command !== process.execPath, ticks))
      sampling = false
    }, 50)
    const { code, stderr } = await exited
    clearInterval(poll)
    const ms = performance.now() - started
    if (code !== 0 || done !== jobs) throw new Error(`build exited ${code} with ${done}/${jobs} jobs done\n${stderr.slice(-2000)}`)
    const usage = await wrapped.usage()
    const cliMib = (usage?.kib ?? hwm) / 1024
    // CPU: the CLI's from GNU time, its children's from their last /proc sample (10 ms ticks).
    const cliCpuMs = usage ? usage.userMs + usage.sysMs : undefined
    // The first process sampled is the CLI (the `time` wrapper is not sampled): the rest are its children.
    const childTicks = [...ticks.values()].slice(1)
    const cpuMs = cliCpuMs === undefined ? undefined : cliCpuMs + childTicks.reduce((sum, value) => sum + value * 10, 0)
    return { mib: Math.max(cliMib, treeKib / 1024), cliMib, treeMib: treeKib / 1024, ms, cpuMs, cliCpuMs, uploads: server.requestCount('toapis.upload') }
  } finally {
    await server.close()
    await wrapped.cleanup()
  }
}

export async function memory(selected, report) {
  const wanted = ['B8', 'B9'].filter((id) => selected(id))
  if (wanted.length === 0) return
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b8')
  try {
    console.error(`B8/B9: writing ${REFS_PER_JOB} × 50 MB PNG refs + mask per job (${WIDTH}×${HEIGHT}, photo-like noise)…`)
    const images = { png: await basePng(), mask: await basePngMask() }
    console.error(`B8/B9: base PNG ${(images.png.length / MiB).toFixed(1)} MiB of image data, mask ${(images.mask.length / 1024).toFixed(0)} KiB`)
    await writeBigInputs(dir, 0, 1, images)
    const floor = await baseline(runs)

    if (selected('B8')) {
      await writeManifest(dir, 1)
      const results = []
      for (let run = 0; run < runs; run++) results.push(await buildOnce(dir, 1))
      const measured = stats(results.map((result) => result.mib))
      report({
        id: 'B8',
        unit: 'MiB',
        scenario: `peak RSS, 1 recipe: ${REFS_PER_JOB} × 50 MB PNG refs (${WIDTH}×${HEIGHT}) + mask, hash + re-encode + upload (toapis)`,
        floor: { label: `node + sharp baseline RSS (${floor.method})`, ...floor },
        measured,
        ratio: measured.median / floor.median,
        target: '≤ baseline + 90 MiB',
        pass: measured.median <= floor.median + 90,
        note: memoryNote(results, floor, measured),
      })
    }

    if (selected('B9')) {
      const jobs = 8
      console.error(`B9: writing the inputs of ${jobs - 1} more jobs (${((jobs - 1) * REFS_PER_JOB * REF_BYTES) / 1e9} GB)…`)
      await writeBigInputs(dir, 1, jobs, images)
      await writeManifest(dir, jobs)
      // About a minute a run on 2 cores (6.4 GB hashed, 128 refs re-encoded): 3 runs unless
      // BENCH_RUNS says otherwise; peak RSS varies little between runs.
      const b9Runs = benchRuns(3)
      const results = []
      for (let run = 0; run < b9Runs; run++) results.push(await buildOnce(dir, jobs))
      const measured = stats(results.map((result) => result.mib))
      report({
        id: 'B9',
        unit: 'MiB',
        scenario: `peak RSS, ${jobs} such recipes in flight (concurrency ${jobs}; ${jobs * REFS_PER_JOB} distinct 50 MB refs)`,
        floor: { label: `node + sharp baseline RSS (${floor.method})`, ...floor },
        measured,
        ratio: measured.median / floor.median,
        target: '≤ 300 MiB total',
        pass: measured.median <= 300,
        note: memoryNote(results, floor, measured),
      })
    }
  } finally {
    await cleanup()
  }
}
