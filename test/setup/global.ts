import { provideChromium } from './browser.js'

/**
 * Vitest global setup: provision Chromium once, before any test file runs, so parallel browser
 * suites never race an install. Where it cannot be provided, the browser suites themselves fail
 * with the command to run; the other suites do not need it.
 */
export default function setup(): void {
  try {
    provideChromium()
  } catch {
    // Reported by every browser suite (launchChromium), with the exact command.
  }
}
