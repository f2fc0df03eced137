// Probe process of test/reliability/fuzz-manifest.test.ts: loads one manifest per IPC message
// with `loadManifest` and answers with what the test checks. It runs apart from the test so that
// an input which crashes or freezes the process (a fatal V8 error, a synchronous endless loop) is
// reported with its input instead of taking the test runner down with it.
import { FileIndex, loadManifest } from '@images-edit/core'

/** One stat cache per probe, as one CLI process keeps one per run: unchanged refs are not hashed again. */
const indexes = new Map()

process.on('message', async (message) => {
  const { id, file, root } = message
  let reply
  try {
    const fileIndex = indexes.get(root) ?? new FileIndex(root, undefined)
    indexes.set(root, fileIndex)
    fileIndex.beginPass()
    const loaded = await loadManifest(file, { fileIndex })
    reply = {
      id,
      ok: true,
      outDir: loaded.outDir,
      root: loaded.root,
      diagnostics: loaded.diagnostics.map((item) => ({
        severity: item.severity,
        rule: item.rule,
        message: item.message,
        hint: item.hint,
        line: item.line,
        column: item.column,
      })),
      jobs: loaded.jobs.map((job) => ({
        id: job.id,
        key: job.key,
        outputs: job.outputs,
        inputs: [...job.refs, ...(job.mask ? [job.mask] : [])].map((input) => ({ source: input.source, path: input.path })),
      })),
    }
  } catch (error) {
    reply = { id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }
  }
  process.send?.(reply)
})
process.send?.({ ready: true })
