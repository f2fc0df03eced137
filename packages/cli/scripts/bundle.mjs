// Bundles the engine and the CLI after `tsc -b` (run by `prepare` and the test setup): a no-op build
// is mostly start-up, and Node loads ~150 small ES modules much slower than two files.
// - @images-edit/core → packages/core/dist/bundle/index.js (the `@images-edit/core/bundle` export).
//   It sits two folders deep like the compiled modules, so the paths they resolve from
//   import.meta.url (schema.json, child/pixels.mjs) are the same; its packages stay external and
//   resolve from the engine's own dependencies, and its lazy imports stay lazy (own chunks).
// - the CLI → packages/cli/dist/bundle/main.js, importing the engine's bundle.
// bin/images-edit.js runs the bundle only when it is newer than the last compile of either package,
// so a checkout where `tsc -b` ran since never runs stale code.
import { stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'rolldown'

const cli = join(dirname(fileURLToPath(import.meta.url)), '..')
const core = join(cli, '../core')
const bare = (id) => id.startsWith('node:') || /^[a-z@]/i.test(id)

/** Bundles both, unless the bundles are newer than both packages' last compile (`ifStale`). */
export async function bundleCli({ ifStale = false } = {}) {
  if (ifStale && !(await stale())) return false
  await build({
    input: { index: join(core, 'dist/index.js') },
    platform: 'node',
    external: bare,
    output: { dir: join(core, 'dist/bundle'), format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
    logLevel: 'warn',
  })
  await build({
    input: { main: join(cli, 'dist/main.js') },
    platform: 'node',
    external: bare,
    output: {
      dir: join(cli, 'dist/bundle'),
      format: 'esm',
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
      paths: (id) => (id === '@images-edit/core' ? '@images-edit/core/bundle' : id),
    },
    logLevel: 'warn',
  })
  return true
}

/** Whether a compile of the CLI or the engine happened after the last bundle. */
export async function stale() {
  const mtime = (path) =>
    stat(path).then(
      (info) => info.mtimeMs,
      () => 0,
    )
  const bundled = Math.min(await mtime(join(cli, 'dist/bundle/main.js')), await mtime(join(core, 'dist/bundle/index.js')))
  const compiled = Math.max(await mtime(join(cli, 'tsconfig.tsbuildinfo')), await mtime(join(core, 'tsconfig.tsbuildinfo')))
  return bundled === 0 || compiled >= bundled
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleCli({ ifStale: process.argv.includes('--if-stale') })
