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

describe('the bundles (packages/cli/scripts/bundle.mjs)', () => {
  /** Package names a bundle imports at run time (static and dynamic), node: builtins aside. */
  async function bareImports(folder: string): Promise<string[]> {
    const names = new Set<string>()
    for (const name of await readdir(join(repoRoot, folder))) {
      const text = await readFile(join(repoRoot, folder, name), 'utf8')
      for (const match of text.matchAll(/(?:from\s*|import\s*\(\s*)["']([^"'./][^"']*)["']/g)) {
        const specifier = match[1] as string
        if (specifier.startsWith('node:')) continue
        const parts = specifier.split('/')
        names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string))
      }
    }
    return [...names].sort()
  }
  const dependencies = async (pkg: string) =>
    Object.keys((JSON.parse(await readFile(join(repoRoot, pkg, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies)

  // A bundle resolves what it leaves external from its own package's folder: under a strict
  // installer (pnpm) only that package's own dependencies are there.
  it.each([
    ['packages/core', 'packages/core/dist/bundle'],
    ['packages/cli', 'packages/cli/dist/bundle'],
  ])('every package %s’s bundle imports is one of its dependencies, and the engine is bundled, not imported', async (pkg, folder) => {
    const imported = await bareImports(folder)
    expect(imported.length).toBeGreaterThan(0)
    const declared = await dependencies(pkg)
    expect(imported.filter((name) => !declared.includes(name))).toEqual([])
    if (pkg === 'packages/cli') expect(imported).toContain('@images-edit/core')
  })

  it('the CLI bundle takes the engine from its bundle, and the test setup left both newer than the last compile', async () => {
    const main = await readFile(join(repoRoot, 'packages/cli/dist/bundle/main.js'), 'utf8')
    expect(main).toMatch(/from\s*["']@images-edit\/core\/bundle["']/)
    expect(main).not.toMatch(/from\s*["']@images-edit\/core["']/)
    const { stale } = (await import(join(repoRoot, 'packages/cli/scripts/bundle.mjs'))) as { stale: () => Promise<boolean> }
    // The test setup bundled after the last compile.
    expect(await stale()).toBe(false)
  })
})
