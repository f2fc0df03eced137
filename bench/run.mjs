// `npm run bench` (all) or `npm run bench -- B1 B4` (some): measures each scenario against a floor
// measured in the same run, prints a table, and writes bench/results/latest.json.
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './lib.mjs'
import { noopLarge, noopSmall } from './scenarios/noop.mjs'

const requested = process.argv.slice(2).map((id) => id.toUpperCase())
const selected = (id) => requested.length === 0 || requested.includes(id)
const results = []
const report = (result) => {
  results.push(result)
  console.error(`${result.id}: ${format(result.measured.median)} (floor ${format(result.floor.median)}) ${result.pass ? 'pass' : 'MISS'}`)
}

for (const scenario of [noopSmall, noopLarge]) await scenario(selected, report)

const order = (id) => Number(id.slice(1))
results.sort((a, b) => order(a.id) - order(b.id))
const table = [
  '| id | scenario | floor | measured median (range) | ratio | target | result |',
  '|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.id} | ${r.scenario} | ${r.floor.label}: ${format(r.floor.median)} | ${format(r.measured.median)} (${format(r.measured.min)}–${format(r.measured.max)}, ${r.measured.runs} runs) | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.pass ? 'pass' : '**miss**'}${r.note ? ` — ${r.note}` : ''} |`,
  ),
].join('\n')
console.log(table)
const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() }
await mkdir(join(repoRoot, 'bench/results'), { recursive: true })
await writeFile(join(repoRoot, 'bench/results/latest.json'), `${JSON.stringify({ machine, results }, null, 2)}\n`)
console.error(`wrote bench/results/latest.json (${results.length} scenarios)`)

function format(ms) {
  if (ms === undefined) return '–'
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`
}
