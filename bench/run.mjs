// `npm run bench` (all) or `npm run bench -- B1 B4` (some): measures each scenario against a floor
// measured in the same run, prints a table, and writes bench/results/latest.json.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './lib.mjs'
import { memory } from './scenarios/memory.mjs'
import { noopLarge, noopSmall } from './scenarios/noop.mjs'
import { peersNoop, peersVite } from './scenarios/peers.mjs'
import { runnerAsync, runnerFaults, runnerSync } from './scenarios/runner.mjs'
import { scale, scaleQuick } from './scenarios/scale.mjs'
import { teamNoop, teamRestore } from './scenarios/team-store.mjs'
import { viteBuild } from './scenarios/vite.mjs'
import { watchLatency } from './scenarios/watch.mjs'

/** `npm run bench -- quick`: a few minutes' subset (start-up, the plugin, watch, B12 at 1,000 jobs, the team store's no-op). */
const QUICK = ['B1', 'B10', 'B11', 'B12', 'B16']
const args = process.argv.slice(2).map((id) => id.toUpperCase())
const quick = args.includes('QUICK')
const requested = quick ? [...new Set([...args.filter((id) => id !== 'QUICK'), ...QUICK])] : args
const selected = (id) => requested.length === 0 || requested.includes(id)
const results = []
const report = (result) => {
  results.push(result)
  console.error(
    `${result.id}: ${format(result.measured.median, result.unit)} (floor ${format(result.floor.median, result.unit)}) ${result.pass ? 'pass' : 'MISS'}${result.note ? ` — ${result.note}` : ''}`,
  )
}

for (const scenario of [
  noopSmall,
  noopLarge,
  runnerSync,
  runnerAsync,
  runnerFaults,
  memory,
  quick ? scaleQuick : scale,
  viteBuild,
  watchLatency,
  peersNoop,
  peersVite,
  teamRestore,
  teamNoop,
])
  await scenario(selected, report)

const order = (id) => Number(id.slice(1))
results.sort((a, b) => order(a.id) - order(b.id))
const table = [
  '| id | scenario | floor | measured median (range) | ratio | target | result |',
  '|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.id} | ${r.scenario} | ${r.floor.label}: ${format(r.floor.median, r.unit)} | ${format(r.measured.median, r.unit)} (${format(r.measured.min, r.unit)}–${format(r.measured.max, r.unit)}, ${r.measured.runs} runs) | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.pass ? 'pass' : '**miss**'}${r.note ? ` — ${r.note}` : ''} |`,
  ),
].join('\n')
console.log(table)
const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() }
await mkdir(join(repoRoot, 'bench/results'), { recursive: true })
const latest = join(repoRoot, 'bench/results/latest.json')
for (const result of results) result.date = machine.date
// A partial run (`npm run bench -- B5`) replaces only its own scenarios; the others' last figures
// stay, each with the date it was measured.
const kept =
  requested.length === 0
    ? []
    : ((await readFile(latest, 'utf8').then(JSON.parse, () => undefined))?.results ?? []).filter((old) => !results.some((result) => result.id === old.id))
const merged = [...kept, ...results].sort((a, b) => order(a.id) - order(b.id))
await writeFile(latest, `${JSON.stringify({ machine, results: merged }, null, 2)}\n`)
console.error(`wrote bench/results/latest.json (${results.length} scenarios measured, ${kept.length} kept from earlier runs)`)

/** Milliseconds by default; results with `unit: 'MiB'` (peak RSS) are sizes. */
function format(ms, unit) {
  if (ms === undefined) return '–'
  if (unit === 'MiB') return `${ms.toFixed(0)} MiB`
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`
}
