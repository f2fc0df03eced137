// B12: the runner at catalogue scale. One `each` recipe over N small product photos (distinct
// JPEGs, 64–256 px) makes N jobs on the async task provider (toapis: upload, submit, poll,
// download) against the fake provider server, with every task taking LATENCY_MS and a paid-request
// rate limit as the binding constraint: the client is configured with `requestsPerMinute: RPM`
// (the runner's paid gate counts submits only; polls go through its separate status gate, 3000 a
// minute) and the server enforces the same limits on its side (429 + Retry-After over a sliding
// minute), so a client that overran them would show it. Concurrency is set high enough (see
// CONCURRENCY) never to be the limit. Measured at SIZES jobs; the note says how each figure grows.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeProviderServer } from '@images-edit/fake-provider'
import sharp from 'sharp'
import { benchRuns, cli, cliBin, fakeProviderEnv, pool, scratch, spawnLines, stats, timed, withUsage } from '../lib.mjs'
import { resetProject } from './fixtures.mjs'

const core = await import('@images-edit/core')

/** Jobs of the full run and of the quick one (`scaleQuick`, for `npm run bench -- quick`). */
export const SCALE_JOBS = Number(process.env.B12_JOBS) || 10_000
export const SCALE_QUICK_JOBS = 1_000
/** Paid requests (submits) per minute: the client's `requestsPerMinute` and the server's limit. */
const RPM = Number(process.env.B12_RPM) || 2_400
/** The runner's status gate (gates.ts default, toapis' query bucket); the server enforces it too. */
const STATUS_RPM = 3_000
const LATENCY_MS = 2_000
/** Slots: at RPM/60 submits a second, each job holds one for about LATENCY_MS plus its requests. */
const CONCURRENCY = 256

const stem = (index) => `p${String(index).padStart(5, '0')}`
const promptOf = (index) => `Place the ${stem(index)} on a marble table`

/** N distinct small photos: size and colours derived from the index. */
export async function writePhotos(dir, count) {
  await mkdir(join(dir, 'photos'), { recursive: true })
  const indexes = Array.from({ length: count }, (_, index) => index)
  await pool(indexes, 4, async (index) => {
    const width = 64 + ((index * 37) % 193)
    const height = 64 + ((index * 71) % 193)
    const bytes = await sharp({ create: { width, height, channels: 3, background: { r: index % 256, g: (index >> 8) % 256, b: (index * 13) % 256 } } })
      .composite([
        { input: { create: { width: 16, height: 16, channels: 3, background: { r: 255 - (index % 256), g: 40, b: 90 } } }, left: index % (width - 16), top: 8 },
      ])
      .jpeg({ quality: 80 })
      .toBuffer()
    await writeFile(join(dir, 'photos', `${stem(index)}.jpg`), bytes)
  })
  const manifest = [
    'version: 1',
    'out: generated',
    `concurrency: ${CONCURRENCY}`,
    'defaults: { provider: toapis, ratio: "1:1", resolution: 1k, format: png, quality: low }',
    'providers:',
    `  toapis: { concurrency: ${CONCURRENCY}, requestsPerMinute: ${RPM}, pollIntervalMs: ${LATENCY_MS} }`,
    'recipes:',
    '  product:',
    '    each: photos/*.jpg',
    '    prompt: Place the {stem} on a marble table',
    '    refs: ["{file}"]',
    '    name: products/{stem}.{ext}',
  ]
  await writeFile(join(dir, 'images.edit.yaml'), `${manifest.join('\n')}\n`)
}

/** `images-edit validate` and `plan` on the manifest (nothing generated yet), and the node start-up floor. */
async function offlineTimes(dir, runs) {
  const floor = []
  const validate = []
  const plan = []
  for (let run = 0; run < runs; run++) {
    floor.push((await timed(process.execPath, ['-e', ''])).ms)
    validate.push((await cli(['validate'], { cwd: dir, expectCode: 0 })).ms)
    plan.push((await cli(['plan', '--json'], { cwd: dir, expectCode: 0 })).ms)
  }
  return { node: stats(floor).median, validate: stats(validate).median, plan: stats(plan).median }
}

/** One fresh build of `jobs` jobs against a new rate-limited fake server. */
async function buildOnce(dir, jobs) {
  await resetProject(dir)
  const server = await startFakeProviderServer({
    latencyMs: LATENCY_MS,
    rateLimits: { 'toapis.submit': RPM, 'toapis.poll': STATUS_RPM },
    // One render per result size: the server's work must not compete with the client's for the CPU.
    sharedRenders: true,
  })
  const wrapped = await withUsage(process.execPath, [cliBin, 'build', '--json', '--no-frozen'])
  try {
    let done = 0
    let failed
    const serverCpu = process.cpuUsage()
    const spawnedAt = Date.now()
    const started = performance.now()
    const { exited } = spawnLines(wrapped.command, wrapped.args, {
      cwd: dir,
      env: fakeProviderEnv(server),
      onLine: (line) => {
        if (line.includes('"job:done"')) done++
        else if (failed === undefined && line.includes('"job:failed"')) failed = line
      },
    })
    const { code, stderr } = await exited
    const ms = performance.now() - started
    const cpu = process.cpuUsage(serverCpu)
    const usage = await wrapped.usage()
    if (code !== 0 || done !== jobs) throw new Error(`build exited ${code} with ${done}/${jobs} jobs done; first failure: ${failed}\n${stderr.slice(-2000)}`)

    // Exactly once: one accepted (paid) submit per photo, none for anything else, and the lock
    // lists every job once.
    const byPrompt = server.submitsByPrompt()
    let once = server.submits() === jobs
    for (let index = 0; index < jobs && once; index++) once = byPrompt.get(promptOf(index)) === 1
    const lock = await core.readLock(join(dir, 'images.edit.lock'))
    const lockJobs = Object.keys(lock.jobs ?? {}).length
    const submits = server.requests.filter((entry) => entry.route === 'toapis.submit' && !entry.rateLimited).map((entry) => entry.startedAt)
    return {
      ms,
      // Accepted submits a minute from the first to the last: the rate the limiter let through.
      submitRate: submits.length > 1 ? ((submits.length - 1) * 60_000) / (Math.max(...submits) - Math.min(...submits)) : 0,
      startup: Math.min(...server.requests.map((entry) => entry.startedAt)) - spawnedAt,
      polls: server.polls / jobs,
      limited: server.requests.filter((entry) => entry.rateLimited).length,
      exactlyOnce: once && lockJobs === jobs,
      lockJobs,
      rssMiB: usage ? usage.kib / 1024 : undefined,
      cpuMs: usage ? usage.userMs + usage.sysMs : undefined,
      serverCpuMs: (cpu.user + cpu.system) / 1000,
    }
  } finally {
    await server.close()
    await wrapped.cleanup()
  }
}

/** The rate-limit floor of `jobs` jobs: the paid gate lets RPM/60 through at once, then RPM/60 a second; the last task then takes LATENCY_MS. */
const floorOf = (jobs) => (Math.ceil(jobs / (RPM / 60)) - 1) * 1000 + LATENCY_MS

async function measure(jobs, runs) {
  const { dir, cleanup } = await scratch(`b12-${jobs}`)
  try {
    console.error(`B12: ${jobs} jobs from one each glob on toapis, ${RPM} submits/min (server-enforced), ${LATENCY_MS} ms tasks, ${runs} run(s)…`)
    await writePhotos(dir, jobs)
    // At 10,000 one validate and one plan each take seconds: one of each is enough there.
    const offline = await offlineTimes(dir, jobs > 2_000 ? 1 : 3)
    const builds = []
    for (let run = 0; run < runs; run++) builds.push(await buildOnce(dir, jobs))
    const pick = (name) => stats(builds.map((build) => build[name]).filter((value) => value !== undefined)).median
    return {
      jobs,
      floor: floorOf(jobs),
      measured: stats(builds.map((build) => build.ms)),
      submitRate: pick('submitRate'),
      polls: pick('polls'),
      limited: pick('limited'),
      exactlyOnce: builds.every((build) => build.exactlyOnce),
      lockJobs: pick('lockJobs'),
      rssMiB: pick('rssMiB'),
      cpuPerJob: pick('cpuMs') / jobs,
      serverCpuPerJob: pick('serverCpuMs') / jobs,
      startup: pick('startup'),
      ...offline,
    }
  } finally {
    await cleanup()
  }
}

const describe = (m) =>
  `${m.jobs} jobs: wall ${s(m.measured.median)} vs floor ${s(m.floor)} (throughput ${((m.jobs * 60_000) / m.measured.median).toFixed(0)}/min = ${(m.floor / m.measured.median).toFixed(3)} of the bound; accepted submits ${m.submitRate.toFixed(0)}/min), CLI spawn → first request ${s(m.startup)}, peak RSS ${m.rssMiB?.toFixed(0) ?? '?'} MiB, CPU/job CLI ${m.cpuPerJob.toFixed(1)} ms + fake server ${m.serverCpuPerJob.toFixed(1)} ms, polls/job ${m.polls.toFixed(2)}, 429s ${m.limited}, exactly once ${m.exactlyOnce ? 'yes' : 'NO'} (lock ${m.lockJobs} jobs), validate ${ms(m.validate)}, plan ${ms(m.plan)} (node start-up ${ms(m.node)})`

const s = (value) => `${(value / 1000).toFixed(1)} s`
const ms = (value) => `${value.toFixed(0)} ms`

/** How a figure grew from the small run to the large one, per job (×1.00 = linear). */
function growth(small, large) {
  const factor = large.jobs / small.jobs
  const per = (a, b) => `×${(b / a / factor).toFixed(2)}`
  return `growth per job ${small.jobs}→${large.jobs} (×1.00 = linear): wall above floor ${per(small.measured.median - small.floor, large.measured.median - large.floor)}, CLI CPU ${(large.cpuPerJob / small.cpuPerJob).toFixed(2)}, validate above node ${per(small.validate - small.node, large.validate - large.node)}, plan above node ${per(small.plan - small.node, large.plan - large.node)}; peak RSS ${small.rssMiB?.toFixed(0)} → ${large.rssMiB?.toFixed(0)} MiB`
}

function reportOf(sizes, report) {
  const large = sizes.at(-1)
  const ratio = large.measured.median / large.floor
  const pass = large.floor / large.measured.median >= 0.95 && large.polls <= 3 && large.exactlyOnce
  report({
    id: 'B12',
    scenario: `${large.jobs} jobs from one each glob, toapis, ${RPM} submits/min, ${LATENCY_MS} ms tasks, concurrency ${CONCURRENCY}`,
    floor: { label: `rate-limit bound (ceil(N/${RPM / 60}) − 1) s + ${LATENCY_MS} ms`, median: large.floor, min: large.floor, max: large.floor, runs: 1 },
    measured: large.measured,
    ratio,
    target: 'throughput ≥ 0.95 × bound (wall ≤ 1.053× floor), ≤ 3 polls/job, exactly-once submits',
    pass,
    note: [...sizes.map(describe), ...(sizes.length > 1 ? [growth(sizes[0], large)] : [])].join('; '),
  })
}

/** B12 at SCALE_QUICK_JOBS and SCALE_JOBS (one build each unless BENCH_RUNS says otherwise). */
export async function scale(selected, report) {
  if (!selected('B12')) return
  const runs = benchRuns(1)
  const sizes = []
  for (const jobs of [SCALE_QUICK_JOBS, SCALE_JOBS]) sizes.push(await measure(jobs, runs))
  reportOf(sizes, report)
}

/** B12 at SCALE_QUICK_JOBS only: the quick subset. */
export async function scaleQuick(selected, report) {
  if (!selected('B12')) return
  reportOf([await measure(SCALE_QUICK_JOBS, benchRuns(1))], report)
}
