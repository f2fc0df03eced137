/**
 * The case list of `test/providers/faults.test.ts`, read from its source text (that file exports
 * nothing and must not be imported: importing a test file registers its tests here). The part
 * between `const RECIPES` and `async function setup` is plain data and helpers; it is transpiled
 * and evaluated in a sandbox with the one runtime value it needs (`PAID_ROUTE`), so the rows
 * below are exactly the cases that suite runs.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import vm from 'node:vm'
import type { Fault, RouteId } from '@images-edit/fake-provider'
import ts from 'typescript'
import { repoRoot } from '../helpers.js'
import { PAID_ROUTE } from '../providers/harness.js'

export const FAULTS_TEST = 'test/providers/faults.test.ts'

/** One case of the faults suite, as that file declares it. */
export interface FaultCase {
  provider: 'toapis' | 'aa' | 'openai'
  route: RouteId
  fault: Fault
  via: 'queue' | 'prompt'
  settings?: Record<string, unknown>
  outcome: 'ok' | 'fail'
  /** A RegExp from the sandbox's realm: use `.source`, not `instanceof`. */
  message?: { source: string }
  accepted?: number
  paidRequests: number
  anyJournal?: boolean
}

export interface FaultSuite {
  cases: FaultCase[]
  /** The suite's own label of a fault, as used in its test titles. */
  describeFault: (fault: Fault) => string
  /** The whole source text (for the header comment). */
  source: string
}

/** Loads the cases of the faults suite. Throws with a precise message when its layout changed. */
export function loadFaultSuite(): FaultSuite {
  const source = readFileSync(join(repoRoot, FAULTS_TEST), 'utf8')
  const start = source.indexOf('const RECIPES')
  const end = source.indexOf('async function setup')
  if (start < 0 || end < start)
    throw new Error(`${FAULTS_TEST} no longer has \`const RECIPES\` … \`async function setup\`: update test/reliability/fault-cases.ts`)
  const js = ts.transpileModule(source.slice(start, end), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText
  const value = vm.runInNewContext(`${js}\n;({ cases: CASES, describeFault })`, { PAID_ROUTE }, { filename: FAULTS_TEST, timeout: 5_000 }) as Omit<
    FaultSuite,
    'source'
  >
  if (!Array.isArray(value.cases) || typeof value.describeFault !== 'function') throw new Error(`${FAULTS_TEST}: CASES or describeFault not found`)
  return { ...value, source }
}

/** A cell of the documented table: `|` escaped for Markdown. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|')
}

/** The documented columns of the fault table, in order. */
export const TABLE_HEADER = [
  '#',
  'provider',
  'route hit',
  'fault',
  'hits',
  'outcome',
  'requests on the paid route',
  'accepted submits (hit job / other job)',
  'journal after the build',
  'reported as (the failed job’s message matches)',
] as const

/** One documented row per case, in the order the suite runs them. */
export function tableRows(suite: FaultSuite): string[][] {
  return suite.cases.map((item, index) => {
    const settings = item.settings
      ? ` (${Object.entries(item.settings)
          .map(([name, value]) => `${name} ${String(value)}`)
          .join(', ')})`
      : ''
    return [
      String(index + 1),
      item.provider,
      `\`${item.route}\``,
      `${suite.describeFault(item.fault)}${settings}`,
      item.via === 'prompt' ? 'alpha’s paid call' : 'next request',
      item.outcome === 'ok'
        ? item.fault.kind === 'wrong-size'
          ? 'kept with a warning, both jobs done'
          : 'retried, both jobs done'
        : 'hit job fails, other job done',
      String(item.paidRequests),
      item.outcome === 'ok' ? '1 / 1' : `${item.accepted ?? '?'} / 1`,
      item.anyJournal ? 'either' : 'empty',
      item.outcome === 'ok' ? '—' : cell(`\`/${item.message?.source ?? '.'}/\``),
    ]
  })
}

/** The table as Markdown (what `docs/RELIABILITY.md` holds between its markers). */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const lines = [`| ${TABLE_HEADER.join(' | ')} |`, `| ${TABLE_HEADER.map(() => '---').join(' | ')} |`]
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`)
  return lines.join('\n')
}

/** Splits a Markdown table row into cells, honouring `\|`. */
export function splitRow(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '')
  const cells: string[] = []
  let current = ''
  for (let index = 0; index < inner.length; index++) {
    const char = inner[index]
    if (char === '\\' && inner[index + 1] === '|') {
      current += '\\|'
      index++
    } else if (char === '|') {
      cells.push(current.trim())
      current = ''
    } else current += char
  }
  cells.push(current.trim())
  return cells
}

/**
 * The header-comment table of the faults suite: `provider route fault paid acc J outcome`, one
 * row per line between the column line and the first blank comment line.
 */
export function headerRows(source: string): { provider: string; route: string; fault: string; paid: number; acc: string; journal: number; outcome: string }[] {
  const rows = []
  for (const line of source.split('\n')) {
    const match = /^ \* (toapis|aa|openai)\s+(\S+)\s+(.+?)\s{2,}(\d+)\s+(\d+\/\d+)\s+(\d+)\s+(.+)$/.exec(line)
    if (!match) continue
    const [, provider = '', route = '', fault = '', paid = '', acc = '', journal = '', outcome = ''] = match
    rows.push({ provider, route, fault: fault.trim(), paid: Number(paid), acc, journal: Number(journal), outcome })
  }
  return rows
}

/** A fault in the header table's short notation (`429 RA:0`, `500 html RA:0`, `429 no RA`, `reset after-body`). */
export function headerLabel(fault: Fault): string {
  if (fault.kind === 'status') {
    const ra = fault.retryAfter === null ? ' no RA' : fault.retryAfter !== undefined ? ` RA:${fault.retryAfter}` : ''
    return `${fault.status}${fault.html ? ' html' : ''}${ra}`
  }
  if ((fault.kind === 'reset' || fault.kind === 'stall') && fault.when) return `${fault.kind} ${fault.when}`
  return fault.kind
}
