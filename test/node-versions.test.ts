import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeBinary } from './frameworks/fixtures.js'
import { repoRoot, tempDir } from './helpers.js'

const run = promisify(execFile)

/**
 * The representative part of the suite that also runs on Node 24 (most users run 22 or 24; the
 * machine has 20). README names these files; keep the two in step. They cover the CLI end to end,
 * the cache, every provider protocol and the HTTP layer (where Node's bundled undici differs), the
 * money rules of the runner, the Vite plugin, and the registry install.
 */
export const NODE24_SUITE = [
  'test/cli-basics.test.ts',
  'test/cli-cache.test.ts',
  'test/providers/cli.test.ts',
  'test/providers/conformance.test.ts',
  'test/money/runner.test.ts',
  'test/vite-plugin.test.ts',
  'packages/core/src/providers/http.test.ts',
]

/** On Node 22, the CLI end to end and the provider HTTP layer: where a Node version shows first. */
export const NODE22_SUITE = ['test/cli-basics.test.ts', 'test/providers/cli.test.ts', 'packages/core/src/providers/http.test.ts']

interface JsonReport {
  testResults: { name: string; status: string; assertionResults: { status: string; fullName: string; failureMessages: string[] }[] }[]
}

const VERSIONS = [
  { major: 24, files: NODE24_SUITE },
  { major: 22, files: NODE22_SUITE },
] as const

describe.each(VERSIONS)('Node $major', ({ major, files }) => {
  let report: JsonReport
  let version = ''
  let cleanup: () => Promise<void> = async () => {}

  beforeAll(async () => {
    const node = await nodeBinary(major)
    version = (await run(node, ['--version'])).stdout.trim()
    const temp = await tempDir(`images-edit-node${major}-`)
    cleanup = temp.cleanup
    const outputFile = join(temp.dir, 'report.json')
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const key of Object.keys(env)) if (key.startsWith('VITEST') || key === 'NODE_ENV' || key === 'TEST') delete env[key]
    const started = performance.now()
    await run(node, [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', ...files, '--reporter=json', `--outputFile=${outputFile}`], {
      cwd: repoRoot,
      env,
      // Shorter than the hook's timeout, so a stuck run is killed and reported, not left running.
      timeout: 780_000,
      killSignal: 'SIGKILL',
      maxBuffer: 256 * 1024 * 1024,
    }).catch(() => undefined) // failures are read from the report below
    console.log(`Node ${version}: ${files.length} files in ${Math.round(performance.now() - started)} ms`)
    report = JSON.parse(await readFile(outputFile, 'utf8')) as JsonReport
  }, 900_000)
  afterAll(() => cleanup())

  it(`is Node ${major}`, () => {
    expect(version).toMatch(new RegExp(`^v${major}\\.`))
  })

  it.each(files)(`%s passes on Node ${major}`, (file) => {
    const result = report.testResults.find((entry) => entry.name === join(repoRoot, file))
    expect(result, `${file} did not run on Node ${major}`).toBeDefined()
    const failed = result?.assertionResults.filter((test) => test.status !== 'passed') ?? []
    expect(
      failed.map((test) => `${test.status}: ${test.fullName}\n${test.failureMessages.join('\n')}`),
      `${file} on Node ${major}`,
    ).toEqual([])
    expect(result?.assertionResults.length).toBeGreaterThan(0)
  })
})
