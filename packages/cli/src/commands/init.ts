import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { MANIFEST_NAME } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import { GITIGNORE_LINES, STARTER_MANIFEST } from '../init-template.js'
import type { Output } from '../reporters.js'
import { UsageError } from '../usage-error.js'

/** `images-edit init`: a starter manifest and `.gitignore` lines; never overwrites a manifest. */
export async function init(values: Values, output: Output, cwd: string): Promise<number> {
  const target = resolve(cwd, values.manifest ?? MANIFEST_NAME)
  const existing = await readFile(target, 'utf8').catch(() => undefined)
  if (existing !== undefined) {
    throw new UsageError(`${relative(cwd, target) || target} already exists; images-edit init never overwrites it. Edit it, or delete it first.`)
  }
  await writeFile(target, STARTER_MANIFEST, { flag: 'wx' })
  const gitignore = join(resolve(target, '..'), '.gitignore')
  const current = await readFile(gitignore, 'utf8').catch(() => '')
  if (!current.split(/\r?\n/).some((line) => line.trim() === '.images-edit/' || line.trim() === '.images-edit')) {
    await appendFile(gitignore, `${current && !current.endsWith('\n') ? '\n' : ''}${GITIGNORE_LINES.join('\n')}\n`)
  }
  output.out.write(
    `wrote ${relative(cwd, target) || target} and .gitignore lines for .images-edit/\nnext: add a reference image at refs/example.png, then run: npx images-edit build\n`,
  )
  return EXIT.ok
}
