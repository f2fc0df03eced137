#!/usr/bin/env node
// The bundled CLI (dist/bundle/, made after each compile by scripts/bundle.mjs: start-up is most
// of a no-op build). In a checkout where `tsc -b` ran after the last bundle, the compiled modules
// instead: never stale code. A registry install has no .tsbuildinfo, so it runs the bundle.
import { statSync } from 'node:fs'

const mtime = (relative) => statSync(new URL(relative, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? 0
const bundled = Math.min(mtime('../dist/bundle/main.js'), mtime('../../core/dist/bundle/index.js') || Number.POSITIVE_INFINITY)
const compiled = Math.max(mtime('../tsconfig.tsbuildinfo'), mtime('../../core/tsconfig.tsbuildinfo'))
const { main } = bundled > compiled ? await import('../dist/bundle/main.js') : await import('../dist/main.js')

process.exitCode = await main(process.argv.slice(2))
