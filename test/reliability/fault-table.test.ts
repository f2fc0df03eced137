/**
 * The fault table of docs/RELIABILITY.md is checked against the cases `test/providers/faults.test.ts`
 * really runs (read from its source, see ./fault-cases.ts), and against that suite's own header
 * comment. `UPDATE_FAULT_TABLE=1 npx vitest run test/reliability/fault-table.test.ts` rewrites the
 * table between the markers from the cases.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers.js'
import { type FaultSuite, headerLabel, headerRows, loadFaultSuite, renderTable, splitRow, TABLE_HEADER, tableRows } from './fault-cases.js'

const DOC = join(repoRoot, 'docs/RELIABILITY.md')
const START = '<!-- fault-table:start (generated from test/providers/faults.test.ts; checked by test/reliability/fault-table.test.ts) -->'
const END = '<!-- fault-table:end -->'

function documentedTable(text: string): string {
  const start = text.indexOf(START)
  const end = text.indexOf(END)
  if (start < 0 || end < start) throw new Error(`docs/RELIABILITY.md has no fault table between\n${START}\nand\n${END}`)
  return text.slice(start + START.length, end).trim()
}

describe('docs/RELIABILITY.md fault table', () => {
  const suite: FaultSuite = loadFaultSuite()
  const expected = tableRows(suite)

  if (process.env.UPDATE_FAULT_TABLE) {
    const text = readFileSync(DOC, 'utf8')
    const start = text.indexOf(START)
    const end = text.indexOf(END)
    if (start >= 0 && end > start) writeFileSync(DOC, `${text.slice(0, start + START.length)}\n\n${renderTable(expected)}\n\n${text.slice(end)}`)
  }

  it('the faults suite declares at least 100 cases covering every provider and every fault kind the brief names', () => {
    expect(suite.cases.length).toBeGreaterThanOrEqual(100)
    const kinds = new Set(suite.cases.map((item) => item.fault.kind))
    for (const kind of [
      'status',
      'reset',
      'stall',
      'malformed-json',
      'task-fails',
      'never-finishes',
      'expired',
      'truncated',
      'not-image',
      'wrong-size',
      'unbounded',
    ])
      expect(kinds, kind).toContain(kind)
    for (const provider of ['toapis', 'aa', 'openai']) expect(suite.cases.some((item) => item.provider === provider)).toBe(true)
    const labels = new Set(suite.cases.map((item) => headerLabel(item.fault)))
    for (const label of ['429 RA:0', '429 no RA', '500 html RA:0', '502 html RA:0', '503 html RA:0', '504 html RA:0', 'reset before-body', 'reset after-body'])
      expect(labels, label).toContain(label)
  })

  it('has exactly one row per case, in order, with the outcome, request and submit counts the suite asserts', () => {
    const table = documentedTable(readFileSync(DOC, 'utf8'))
    const lines = table.split('\n').filter((line) => line.trim().startsWith('|'))
    const [header, separator, ...body] = lines
    expect(splitRow(header ?? '')).toEqual([...TABLE_HEADER])
    expect(separator).toMatch(/^\|[\s|:-]+\|$/)
    const documented = body.map(splitRow)
    // Row by row first, for a readable diff of the first mismatch.
    for (const [index, row] of expected.entries()) expect(documented[index], `row ${index + 1}`).toEqual(row)
    expect(documented).toHaveLength(expected.length)
  })

  it('agrees with the header-comment table of the faults suite (provider, route, fault, paid requests, accepted submits, outcome)', () => {
    const header = headerRows(suite.source)
    const fromCases = suite.cases
      .map((item) => ({
        provider: item.provider,
        route: item.route,
        fault: headerLabel(item.fault),
        paid: item.paidRequests,
        acc: item.outcome === 'ok' ? '1/1' : `${item.accepted}/1`,
        outcome: item.outcome === 'ok' ? (item.fault.kind === 'wrong-size' ? 'kept' : 'retried') : 'job fails',
      }))
      .sort((a, b) => `${a.provider} ${a.route} ${a.fault}`.localeCompare(`${b.provider} ${b.route} ${b.fault}`))
    const documented = header
      .map(({ provider, route, fault, paid, acc, outcome }) => ({
        provider,
        route,
        fault,
        paid,
        acc,
        outcome: outcome.startsWith('retried') ? 'retried' : outcome.startsWith('kept') ? 'kept' : outcome.startsWith('job fails') ? 'job fails' : outcome,
      }))
      .sort((a, b) => `${a.provider} ${a.route} ${a.fault}`.localeCompare(`${b.provider} ${b.route} ${b.fault}`))
    expect(documented).toEqual(fromCases)
  })
})
