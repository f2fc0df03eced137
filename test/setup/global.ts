// @ts-expect-error: a plain .mjs build script, no types
import { bundleCli } from '../../packages/cli/scripts/bundle.mjs'
import { provideChromium } from './browser.js'

/**
 * Vitest global setup: provision Chromium once, before any test file runs, so parallel browser
 * suites never race an install. Where it cannot be provided, the browser suites themselves fail
 * with the command to run; the other suites do not need it.
 */
export default async function setup(): Promise<void> {
  // The CLI the tests spawn is the bundle users run (bin/images-edit.js takes it only when it is
  // newer than the last compile): made again here when a compile came after it.
  await bundleCli({ ifStale: true })
  try {
    provideChromium()
  } catch {
    // Reported by every browser suite (launchChromium), with the exact command.
  }
}
