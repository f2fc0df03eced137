import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { repoRoot } from './helpers.js'

// The layout rules of docs/ARCHITECTURE.md, checked on the sources themselves so they cannot
// drift: files of one concern (at most FILE_LINES lines), functions short enough to read at once
// (at most FUNCTION_LINES), and adapters that speak to the engine only through its public entry.
const FILE_LINES = 300
const FUNCTION_LINES = 80
const PACKAGES = ['packages/core/src', 'packages/cli/src', 'packages/vite-plugin/src']

async function sources(dir: string): Promise<string[]> {
  const files: string[] = []
  for (const entry of await readdir(join(repoRoot, dir), { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name)
    if (entry.isFile() && path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts')) files.push(path)
  }
  return files.sort()
}

/** Every function-like node of a file with its length in lines (its whole text, signature included). */
function functionLengths(path: string, text: string): { name: string; lines: number }[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true)
  const found: { name: string; lines: number }[] = []
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line
      const named = (node as ts.FunctionLikeDeclaration).name
      const name = named ? named.getText(file) : `(anonymous at line ${start + 1})`
      found.push({ name: `${relative(repoRoot, path)}:${start + 1} ${name}`, lines: end - start + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

describe('source layout', () => {
  it(`no source file is above ${FILE_LINES} lines`, async () => {
    const long: string[] = []
    for (const dir of PACKAGES) {
      for (const path of await sources(dir)) {
        const lines = (await readFile(path, 'utf8')).split('\n').length
        if (lines > FILE_LINES) long.push(`${relative(repoRoot, path)}: ${lines}`)
      }
    }
    expect(long).toEqual([])
  })

  it(`no function is above ${FUNCTION_LINES} lines`, async () => {
    const long: string[] = []
    for (const dir of PACKAGES) {
      for (const path of await sources(dir)) {
        for (const fn of functionLengths(path, await readFile(path, 'utf8'))) if (fn.lines > FUNCTION_LINES) long.push(`${fn.name}: ${fn.lines}`)
      }
    }
    expect(long).toEqual([])
  })

  it('the CLI and the Vite plugin import the engine only through its public entry', async () => {
    const reaching: string[] = []
    for (const dir of ['packages/cli/src', 'packages/vite-plugin/src']) {
      for (const path of await sources(dir)) {
        const text = await readFile(path, 'utf8')
        for (const match of text.matchAll(/from\s+'([^']+)'/g)) {
          const specifier = match[1] as string
          if (specifier.startsWith('@images-edit/core/') || /(^|\/)core\/(src|dist)\//.test(specifier))
            reaching.push(`${relative(repoRoot, path)}: ${specifier}`)
        }
      }
    }
    expect(reaching).toEqual([])
  })

  it('the checker sees what it counts (a long function and a deep import are found)', () => {
    const body = Array.from({ length: FUNCTION_LINES + 5 }, (_, index) => `  const v${index} = ${index}`).join('\n')
    const lengths = functionLengths('probe.ts', `export function probe() {\n${body}\n}\nconst short = () => 1\n`)
    expect(lengths.map((fn) => fn.lines)).toEqual([FUNCTION_LINES + 7, 1])
  })
})
