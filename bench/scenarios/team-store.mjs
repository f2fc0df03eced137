// B15–B16: the team store (S3 remote) against s3rver on 127.0.0.1, started in this process.
// B15: a fresh CI clone restores 200 outputs of ~4.2 MB from the bucket, against raw signed GETs of
// the same objects. B16: a no-op build with the remote configured, against the same no-op without
// one, and the requests it makes to the bucket (none).
import { createHash, randomBytes } from 'node:crypto'
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeProviderServer } from '@images-edit/fake-provider'
import sharp from 'sharp'
import { benchRuns, cli, cliBin, fakeProviderEnv, pool, repoRoot, scratch, stats, timed, withUsage } from '../lib.mjs'
import { remoteEnv, S3_CREDENTIALS, startS3Server } from '../s3.mjs'
import { writeJobsProject } from './fixtures.mjs'

const core = await import('@images-edit/core')

const TEAM_KEY = 'bench-team-key-0123456789abcdef'
/** Jobs looked up at once by the read-through (PARALLEL in packages/core/src/remote/team-remote.ts). */
const PARALLEL = 8
const RESTORE_JOBS = 200
const NOOP_JOBS = 50
const SIDE = 1024
const MB = 1e6

/** What is configured in a project's environment apart from the remote: nothing to pay, nothing stray. */
const QUIET = {
  CI: undefined,
  IMAGES_EDIT_REMOTE: undefined,
  IMAGES_EDIT_REMOTE_ENDPOINT: undefined,
  IMAGES_EDIT_REMOTE_KEY: undefined,
  TOAPIS_API_KEY: undefined,
  AA_API_KEY: undefined,
  OPENAI_API_KEY: undefined,
}

/**
 * A 1024×1024 RGBA PNG of random noise: 4 MiB of pixels that deflate cannot shrink, ~4.2 MB as PNG.
 * Compression level 0 gives the same size as level 6 on noise (stored blocks), at a third of the time.
 */
function noisePng() {
  return sharp(randomBytes(SIDE * SIDE * 4), { raw: { width: SIDE, height: SIDE, channels: 4 } })
    .png({ compressionLevel: 0, adaptiveFiltering: false })
    .toBuffer()
}

/** Requests of `list` (s3rver's log) on objects or records under `prefix`, by method. */
function countRequests(list, bucket, prefix) {
  const counts = {}
  for (const line of list) {
    const [method, path] = line.split(' ')
    const kind = path.startsWith(`/${bucket}/${prefix}/objects/`) ? 'object' : path.startsWith(`/${bucket}/${prefix}/records/`) ? 'record' : 'other'
    counts[`${method} ${kind}`] = (counts[`${method} ${kind}`] ?? 0) + 1
  }
  return counts
}

const describeCounts = (counts) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([what, count]) => `${count} ${what}`)
    .join(', ') || 'none'

/**
 * Project A: `jobs` aa recipes built once against the fake provider (its downloads answered with
 * `images` when given, else its own small renders) with the bucket configured, so the build pushes
 * every result. Returns the lock.
 */
async function buildAndPush(dir, s3, prefix, jobs, images) {
  await writeJobsProject(dir, { jobs, provider: 'aa', concurrency: 8 })
  const fake = await startFakeProviderServer({ latencyMs: 0 })
  try {
    // Each result download gets one of the noise PNGs instead of the fake's flat render (which
    // compresses to a few KB): a 200 answer with those bytes, one per request, in arrival order.
    if (images) fake.fault('files.download', ...images.map((body) => ({ kind: 'status', status: 200, body, headers: { 'content-type': 'image/png' } })))
    const env = { ...QUIET, ...fakeProviderEnv(fake), ...remoteEnv(s3, prefix, { IMAGES_EDIT_REMOTE_KEY: TEAM_KEY }) }
    await cli(['build', '--no-frozen'], { cwd: dir, env, expectCode: 0 })
    if (fake.submits() !== jobs) throw new Error(`project A paid ${fake.submits()} submits, expected ${jobs}`)
    if (images && fake.pendingFaults('files.download') !== 0) throw new Error(`${fake.pendingFaults('files.download')} noise images were not downloaded`)
  } finally {
    await fake.close()
  }
  const lock = await core.readLock(join(dir, 'images.edit.lock'))
  const outputs = Object.values(lock.jobs).flatMap((job) => job.outputs)
  const pushed = s3.requests.filter((line) => line.startsWith(`PUT /${s3.bucket}/${prefix}/objects/`)).length
  if (outputs.length !== jobs || pushed !== jobs)
    throw new Error(`project A: ${outputs.length} outputs in the lock, ${pushed} objects pushed; expected ${jobs}`)
  return lock
}

/** A fresh clone of `source` as CI checks it out: manifest, refs and lock; no outputs, no store. */
async function cloneOf(source, target) {
  await mkdir(target, { recursive: true })
  for (const entry of ['images.edit.yaml', 'refs', 'images.edit.lock']) await cp(join(source, entry), join(target, entry), { recursive: true })
  return target
}

const seconds = (ms) => (ms === undefined || Number.isNaN(ms) ? '?' : `${(ms / 1000).toFixed(2)} s`)
const cpuOf = (usage) => (usage ? usage.userMs + usage.sysMs : undefined)

/** B15: restore 200 × ~4.2 MB outputs from the team store in a fresh frozen CI clone. */
export async function teamRestore(selected, report) {
  if (!selected('B15')) return
  const runs = benchRuns()
  const { dir, cleanup } = await scratch('b15')
  const s3 = await startS3Server()
  try {
    const prefix = 'b15'
    console.error(`B15: building ${RESTORE_JOBS} jobs with ~4.2 MB noise outputs and pushing them to s3rver…`)
    const images = []
    await pool(
      Array.from({ length: RESTORE_JOBS }, (_, index) => index),
      2,
      async (index) => {
        images[index] = await noisePng()
      },
    )
    const projectA = join(dir, 'a')
    const lock = await buildAndPush(projectA, s3, prefix, RESTORE_JOBS, images)
    images.length = 0
    const outputs = Object.values(lock.jobs).flatMap((job) => job.outputs)
    const keys = outputs.map((output) => `${prefix}/objects/${output.sha256.slice(0, 2)}/${output.sha256.slice(2)}`)
    const floorOut = join(dir, 'floor-out')
    const floorJob = async (name, extra) => {
      const path = join(dir, `${name}.json`)
      const job = { endpoint: s3.endpoint, bucket: s3.bucket, keys, outDir: floorOut, parallel: PARALLEL, ...S3_CREDENTIALS, ...extra }
      await writeFile(path, JSON.stringify(job))
      return path
    }
    const rawJob = await floorJob('raw')
    const durableJob = await floorJob('durable', { fsync: true })
    // CI: frozen, no provider key and no team key (the lock's sha256 pins need no signed record).
    const ciEnv = { ...QUIET, ...remoteEnv(s3, prefix), CI: 'true' }

    const floorOnce = async (job) => {
      const wrapped = await withUsage(process.execPath, [join(repoRoot, 'bench/s3-get-floor.mjs'), job])
      try {
        const result = await timed(wrapped.command, wrapped.args, { env: QUIET })
        if (result.code !== 0) throw new Error(`B15 floor exited ${result.code}: ${result.stderr.slice(-2000)}`)
        const inner = JSON.parse(result.stdout.trim().split('\n').at(-1))
        return { ms: result.ms, inner: inner.ms, bytes: inner.bytes, cpu: cpuOf(await wrapped.usage()) }
      } finally {
        await wrapped.cleanup()
        await rm(floorOut, { recursive: true, force: true })
      }
    }
    let verified
    const restoreOnce = async (run) => {
      const clone = await cloneOf(projectA, join(dir, `clone-${run}`))
      const wrapped = await withUsage(process.execPath, [cliBin, 'build'])
      try {
        const before = s3.requests.length
        const serverCpu = process.cpuUsage()
        const started = performance.now()
        const result = await timed(wrapped.command, wrapped.args, { cwd: clone, env: ciEnv })
        const ended = performance.now()
        const s3rverCpu = process.cpuUsage(serverCpu)
        if (result.code !== 0) throw new Error(`B15 restore exited ${result.code}\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`)
        const requests = countRequests(s3.requests.slice(before), s3.bucket, prefix)
        // Where the time went, from s3rver's side: before the first request (start-up, plan),
        // between it and the last answer sent (the read-through), after it (writing the outputs
        // from the local store, the lock).
        const times = s3.times.slice(before)
        const firstAt = Math.min(...times.map((time) => time.at))
        const lastEnd = Math.max(...times.map((time) => time.end ?? ended))
        const phases = { plan: firstAt - started, fetch: lastEnd - firstAt, after: ended - lastEnd }
        // Once: every output is back, byte for byte (the sha256 the lock pins).
        if (verified === undefined) {
          const restored = await readdir(join(clone, 'generated'))
          let same = restored.length === outputs.length
          for (const output of outputs) {
            const bytes = await readFile(join(clone, output.path)).catch(() => undefined)
            if (!bytes || createHash('sha256').update(bytes).digest('hex') !== output.sha256) same = false
          }
          verified = same
        }
        const usage = await wrapped.usage()
        // The same clone built again: a no-op, the fixed cost of a CLI run on this project.
        const noop = await cli(['build'], { cwd: clone, env: ciEnv, expectCode: 0 })
        return { ms: result.ms, requests, phases, usage, s3rverCpu: (s3rverCpu.user + s3rverCpu.system) / 1000, noop: noop.ms }
      } finally {
        await wrapped.cleanup()
        await rm(clone, { recursive: true, force: true })
      }
    }

    console.error(`B15: ${runs} runs of a fresh-clone restore, of ${RESTORE_JOBS} raw GETs (${PARALLEL} at a time) and of the same GETs fsynced, interleaved…`)
    await floorOnce(rawJob)
    await restoreOnce('warmup')
    verified = undefined
    const floors = []
    const durables = []
    const restores = []
    for (let run = 0; run < runs; run++) {
      // Rotate which goes first, so a drift of the machine falls on all three.
      const steps = [
        async () => floors.push(await floorOnce(rawJob)),
        async () => restores.push(await restoreOnce(run)),
        async () => durables.push(await floorOnce(durableJob)),
      ]
      for (let step = 0; step < steps.length; step++) await steps[(step + run) % steps.length]()
    }
    const floor = stats(floors.map((entry) => entry.ms))
    const durable = stats(durables.map((entry) => entry.ms))
    const measured = stats(restores.map((entry) => entry.ms))
    const ratio = measured.median / floor.median
    const bytes = floors[0].bytes
    const median = (values) => stats(values.filter((value) => value !== undefined)).median
    const phase = (name) => seconds(median(restores.map((entry) => entry.phases[name])))
    const requestsSeen = [...new Set(restores.map((entry) => describeCounts(entry.requests)))].join(' | ')
    const mbps = (ms) => (bytes / MB / (ms / 1000)).toFixed(0)
    report({
      id: 'B15',
      scenario: `fresh CI clone restores ${RESTORE_JOBS} outputs of ~${(bytes / RESTORE_JOBS / MB).toFixed(1)} MB (${(bytes / MB).toFixed(0)} MB) from the team store (s3rver)`,
      floor: { label: `${RESTORE_JOBS} raw signed GETs, ${PARALLEL} at a time, each written to a file (own process)`, ...floor },
      measured,
      ratio,
      target: '≤ 1.25× raw GETs (= ≥ 0.8× their throughput)',
      pass: ratio <= 1.25 && verified === true,
      note: [
        `ratio = restore wall time / raw GET wall time, both whole processes; throughput restore ${mbps(measured.median)} MB/s vs raw GETs ${mbps(floor.median)} MB/s = ${(1 / ratio).toFixed(2)}×`,
        `same GETs with each file fsynced ${seconds(durable.median)} (${(measured.median / durable.median).toFixed(2)}× of it)`,
        `restore phases (from s3rver's log): spawn → first request ${phase('plan')}, read-through ${phase('fetch')}, last answer → exit ${phase('after')}`,
        `outputs byte-identical to the lock: ${verified ? 'yes' : 'NO'}`,
        `requests per restore: ${requestsSeen}`,
        `CPU: restore user ${seconds(median(restores.map((entry) => entry.usage?.userMs)))} + sys ${seconds(median(restores.map((entry) => entry.usage?.sysMs)))}, raw GETs ${seconds(median(floors.map((entry) => entry.cpu)))}, s3rver during a restore ${seconds(median(restores.map((entry) => entry.s3rverCpu)))}`,
        `raw GET loop alone ${seconds(median(floors.map((entry) => entry.inner)))} (rest of the floor: node start-up)`,
        `no-op build of the restored clone ${seconds(median(restores.map((entry) => entry.noop)))}`,
      ].join('; '),
    })
  } finally {
    await s3.close()
    await cleanup()
  }
}

/** B16: a no-op build with the team store configured costs what one without it does, and asks the bucket nothing. */
export async function teamNoop(selected, report) {
  if (!selected('B16')) return
  const runs = benchRuns(9)
  const { dir, cleanup } = await scratch('b16')
  const s3 = await startS3Server()
  try {
    const prefix = 'b16'
    console.error(`B16: building ${NOOP_JOBS} small jobs and pushing them to s3rver…`)
    await buildAndPush(dir, s3, prefix, NOOP_JOBS)
    // The fake provider is closed: a no-op build must not need it. Both builds get the same
    // environment but for the remote's variables (the bucket's credentials are in both).
    const common = { ...QUIET, AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey }
    const withRemote = { ...common, ...remoteEnv(s3, prefix, { IMAGES_EDIT_REMOTE_KEY: TEAM_KEY }) }
    const build = async (env) => (await cli(['build', '--frozen'], { cwd: dir, env, expectCode: 0 })).ms
    console.error(`B16: ${runs} no-op builds with and without the remote, interleaved…`)
    await build(common)
    const before = s3.requests.length
    await build(withRemote)
    const floors = []
    const measured = []
    for (let run = 0; run < runs; run++) {
      if (run % 2 === 0) {
        floors.push(await build(common))
        measured.push(await build(withRemote))
      } else {
        measured.push(await build(withRemote))
        floors.push(await build(common))
      }
    }
    const requests = s3.requests.slice(before)
    const floor = stats(floors)
    const noop = stats(measured)
    const ratio = noop.median / floor.median
    report({
      id: 'B16',
      scenario: `no-op build, ${NOOP_JOBS} recipes built and pushed, with the team store configured`,
      floor: { label: 'the same no-op without a remote', ...floor },
      measured: noop,
      ratio,
      target: '≤ 1.05× floor, 0 requests to the bucket',
      pass: ratio <= 1.05 && requests.length === 0,
      note: `requests reaching s3rver during ${runs + 1} no-op builds with the remote: ${requests.length}${requests.length ? ` (${describeCounts(countRequests(requests, s3.bucket, prefix))})` : ''}; floor ${noop.median >= floor.median ? '+' : '−'} ${Math.abs(noop.median - floor.median).toFixed(0)} ms`,
    })
  } finally {
    await s3.close()
    await cleanup()
  }
}
