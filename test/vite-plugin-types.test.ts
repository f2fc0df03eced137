import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, repoRoot, writeFiles } from './helpers.js'

const run = promisify(execFile)

/** `tsc --noEmit` over a project; its diagnostics as text (empty when it type-checks). */
async function typecheck(dir: string, files: string[]): Promise<string> {
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc')
  const args = [
    '--noEmit',
    '--strict',
    '--module',
    'esnext',
    '--moduleResolution',
    'bundler',
    '--target',
    'es2022',
    '--lib',
    'es2022,dom',
    '--types',
    'vite/client',
    ...files,
  ]
  try {
    await run(process.execPath, [tsc, ...args], { cwd: dir })
    return ''
  } catch (error) {
    return (error as { stdout: string }).stdout
  }
}

describe('types: the dts option makes an unknown recipe a type error', () => {
  let dir: string
  beforeAll(async () => {
    // Inside the repository's node_modules, so the project resolves vite-plugin-images-edit and vite as an install would.
    await mkdir(join(repoRoot, 'node_modules/.cache'), { recursive: true })
    dir = await mkdtemp(join(repoRoot, 'node_modules/.cache/images-edit-types-'))
    await writeFiles(dir, {
      'images.edit.yaml': 'version: 1\ndefaults: { provider: local }\nrecipes:\n  hero:\n    prompt: a poster\n    refs: [refs/a.png]\n',
      'refs/a.png': await makeImage(),
      'index.html': '<script type="module" src="/src/main.ts"></script>',
      'src/main.ts': "import hero from 'images-edit:hero'\nconst width: number = hero.width\nconst recipe: 'hero' = hero.recipe\nexport { recipe, width }\n",
      'src/nope.ts': "import nope from 'images-edit:nope'\nexport default nope\n",
      'src/typo.ts': "import hero from 'images-edit:hero'\nexport const src: number = hero.src\n",
    })
    await build({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [imagesEdit({ dts: 'src/images-edit.d.ts', frozen: false })],
      build: { outDir: join(dir, 'dist') },
    })
  }, 120_000)
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('the generated file declares each recipe and references no wildcard module', async () => {
    const dts = await readFile(join(dir, 'src/images-edit.d.ts'), 'utf8')
    expect(dts).toContain("declare module 'images-edit:hero'")
    expect(dts).not.toContain('images-edit:*')
    expect(dts).not.toContain('vite-plugin-images-edit/client')
  })

  it('an import of a recipe that exists type-checks, with its id as a literal type', async () => {
    expect(await typecheck(dir, ['src/main.ts', 'src/images-edit.d.ts'])).toBe('')
  }, 60_000)

  it("import nope from 'images-edit:nope' is a type error (TS2307), and so is misusing a field", async () => {
    const nope = await typecheck(dir, ['src/nope.ts', 'src/images-edit.d.ts'])
    expect(nope).toMatch(/src\/nope\.ts\(1,18\): error TS2307: Cannot find module 'images-edit:nope'/)
    const typo = await typecheck(dir, ['src/typo.ts', 'src/images-edit.d.ts'])
    expect(typo).toMatch(/src\/typo\.ts\(2,14\): error TS2322/)
  }, 60_000)

  it('without dts, vite-plugin-images-edit/client types every name loosely (as documented)', async () => {
    await writeFiles(dir, {
      'src/loose.ts':
        '/// <reference types="vite-plugin-images-edit/client" />\nimport any from \'images-edit:whatever\'\nexport const width: number = any.width\n',
    })
    expect(await typecheck(dir, ['src/loose.ts'])).toBe('')
  }, 60_000)
})
