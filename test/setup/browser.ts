import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll } from 'vitest'

/**
 * Debian's Chromium for the browser tests. `npm test` provisions it where it can (as root with apt,
 * the machine CI runs on) and otherwise fails with the one command to run — it never skips.
 */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
const INSTALL = 'apt-get update && apt-get install -y chromium'

/** Flags for a closed network: without the background-networking ones Chromium keeps dialling out. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** The path of a Chromium binary: `CHROMIUM_PATH`, else the usual system paths. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CHROMIUM_PATH) return existsSync(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : undefined
  return CANDIDATES.find((path) => existsSync(path))
}

/**
 * Finds Chromium, installing Debian's package first when running as root with apt-get. Throws an
 * error naming the exact command otherwise.
 */
export function provideChromium(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  const found = findChromium()
  if (found) return found
  if (process.env.CHROMIUM_PATH) throw new Error(`CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist`)
  const root = process.getuid?.() === 0
  const hasApt = existsSync('/usr/bin/apt-get')
  if (root && hasApt) {
    log(`browser tests: Chromium is missing; installing Debian's package (${INSTALL})`)
    try {
      execFileSync('sh', ['-c', `${INSTALL} >/dev/null`], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      })
    } catch (error) {
      throw new Error(`browser tests: installing Chromium failed (${(error as Error).message}). Run \`${INSTALL}\` as root, or set CHROMIUM_PATH.`)
    }
    const installed = findChromium()
    if (installed) return installed
  }
  throw new Error(
    `browser tests need Chromium and none was found. Run \`sudo ${INSTALL}\` (Debian/Ubuntu), or point CHROMIUM_PATH at a Chromium or Chrome binary.`,
  )
}

/**
 * Launches headless Chromium. The global setup ({@link provideChromium}) installs it once; a suite
 * only looks for it, and fails with the command to run when it is missing — it never skips.
 */
export function launchChromium(): Promise<Browser> {
  const path = findChromium()
  if (!path) {
    throw new Error(
      `browser tests need Chromium and none was found. Run \`sudo ${INSTALL}\` (Debian/Ubuntu), or point CHROMIUM_PATH at a Chromium or Chrome binary.`,
    )
  }
  return chromium.launch({ executablePath: path, headless: true, args: CHROMIUM_FLAGS })
}

/**
 * Chromium for the tests of the calling `describe`: launched once before them, closed after;
 * `newPage()` opens a page in a context of its own; `cleanups` (that context, and whatever a test
 * pushes) run after each test, last first.
 */
export function useChromium(viewport: { width: number; height: number }): { cleanups: (() => Promise<unknown>)[]; newPage: () => Promise<Page> } {
  let browser: Browser | undefined
  const cleanups: (() => Promise<unknown>)[] = []
  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })
  const newPage = async (): Promise<Page> => {
    if (!browser) throw new Error('useChromium: no browser (call newPage inside a test)')
    const context = await browser.newContext({ viewport })
    cleanups.push(() => context.close())
    const opened = await context.newPage()
    opened.setDefaultTimeout(20_000)
    return opened
  }
  return { cleanups, newPage }
}
