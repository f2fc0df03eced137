/**
 * The yaml library never talks to the terminal (issue 10, point 8): a collection used as a map key
 * (`? [a, b]`, `? {refs: […]}`) made yaml print a Node warning and was reported at the parent map;
 * it is now one located diagnostic at the key itself. yaml's own warnings (an unresolved `!tag`)
 * are located diagnostics too. Checked through the real CLI, stderr included.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli, STACK_LINE, tempDir, writeFiles, writeImages } from '../helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function project(manifest: string): Promise<string> {
  const { dir, cleanup } = await tempDir('images-edit-yaml-warnings-')
  cleanups.push(cleanup)
  await writeImages(dir, { 'refs/a.png': {} })
  await writeFiles(dir, { 'images.edit.yaml': manifest })
  return dir
}

/** What Node prints for process.emitWarning, and yaml's text for collection keys. */
const NODE_WARNING = /\(node:\d+\)|Warning:|--trace-warnings|Keys with collection values|mapAsMap/

const manifest = [
  'version: 1', // 1
  'defaults:', // 2
  '  provider: local', // 3
  'recipes:', // 4
  '  r:', // 5
  '    prompt: hi', // 6
  '    refs: [refs/a.png]', // 7
  '    ? {refs: [refs/a.png]}', // 8: the key starts at column 7
  '    : 1', // 9
  '  s:', // 10
  '    prompt: hi', // 11
  '    refs: [refs/a.png]', // 12
  '    ? [a, b]', // 13
  '    : 2', // 14
  '    model: !custom local-v1', // 15
  '  t:', // 16
  '    prompt: a problem beside them is reported too', // 17
  '    refs: [refs/missing.png]', // 18
  '',
].join('\n')

describe('yaml warnings never reach the terminal', () => {
  it('validate: a collection key is an error at the key, a yaml warning is a located warning, and stderr has no Node warning', async () => {
    const dir = await project(manifest)
    const result = await runCli(['validate', '--manifest', join(dir, 'images.edit.yaml')], { cwd: dir })
    expect(result.code, result.stderr).toBe(2)
    const output = result.stdout + result.stderr
    expect(output).not.toMatch(NODE_WARNING)
    expect(output).not.toMatch(STACK_LINE)
    expect(output).toMatch(/images\.edit\.yaml:8:7: error: a map is used as a key; manifest keys are plain names \[yaml\/collection-key\]/)
    expect(output).toMatch(/images\.edit\.yaml:13:7: error: a list is used as a key.*\[yaml\/collection-key\]/)
    expect(output).toMatch(/images\.edit\.yaml:15:12: warning: Unresolved tag: !custom \[yaml\/tag_resolve_failed\]/)
    expect(output).toMatch(/images\.edit\.yaml:18:12: error: refs\/missing\.png does not exist \[ref\/missing\]/)
    // Not also reported as an unknown field at the parent map, as before.
    expect(output).not.toMatch(/unknown field/)
    expect(output).toMatch(/fix: Write the key as a plain name/)
  })

  it('validate --json: the same diagnostics, located, and nothing on stderr', async () => {
    const dir = await project(manifest)
    const result = await runCli(['validate', '--json', '--manifest', join(dir, 'images.edit.yaml')], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).not.toMatch(NODE_WARNING)
    const report = JSON.parse(result.stdout) as { diagnostics: { rule: string; severity: string; line: number; column: number }[] }
    expect(report.diagnostics.map((item) => `${item.severity} ${item.rule} ${item.line}:${item.column}`)).toEqual([
      'error yaml/collection-key 8:7',
      'error yaml/collection-key 13:7',
      'warning yaml/tag_resolve_failed 15:12',
      'error ref/missing 18:12',
    ])
  })

  it('build refuses the manifest the same way, without a Node warning', async () => {
    const dir = await project(manifest)
    const result = await runCli(['build', '--manifest', join(dir, 'images.edit.yaml')], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stdout + result.stderr).not.toMatch(NODE_WARNING)
    expect(result.stderr).toMatch(/images\.edit\.yaml:8:7: error: .*\[yaml\/collection-key\]/)
  })
})
