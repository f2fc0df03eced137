/**
 * Shared setup of the provider suites: a fake provider server per test, a temporary project
 * pointed at it, and builds run through `openProject().build` (or the real CLI).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type BuildOptions, type BuildResult, openProject, type RunEvent } from '@images-edit/core'
import { type FakeProviderServer, type FakeServerOptions, startFakeProviderServer } from '@images-edit/fake-provider'
import { makeImage, makeMask, tempDir, writeFiles } from '../helpers.js'

/** The hosted providers the fake server speaks. */
export type Hosted = 'toapis' | 'aa' | 'openai'
export const HOSTED: readonly Hosted[] = ['toapis', 'aa', 'openai']

/** Where each provider's key and base URL come from. */
export const KEY_ENV: Record<Hosted, string> = { toapis: 'TOAPIS_API_KEY', aa: 'AA_API_KEY', openai: 'OPENAI_API_KEY' }
export const BASE_ENV: Record<Hosted, string> = {
  toapis: 'IMAGES_EDIT_TOAPIS_BASE_URL',
  aa: 'IMAGES_EDIT_AA_BASE_URL',
  openai: 'IMAGES_EDIT_OPENAI_BASE_URL',
}

/** The paid route of each provider. */
export const PAID_ROUTE = { toapis: 'toapis.submit', aa: 'aa.generate', openai: 'openai.edit' } as const

/** Fast provider settings for tests (timeoutMs: per-request inactivity timeout). */
export const FAST_SETTINGS = { pollIntervalMs: 100, timeoutMs: 2000, taskTimeoutMs: 5000, concurrency: 4, requestsPerMinute: 6000 }

/** Reference images every project gets: a 64×48 PNG, a 64×48 JPEG and a matching mask. */
export const REF_SIZE = { width: 64, height: 48 }

/** Cleanups registered by the helpers; run them in `afterEach`/`afterAll`. */
export class Resources {
  private readonly cleanups: (() => Promise<void>)[] = []

  add(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup)
  }

  async release(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup().catch(() => {})
  }

  async server(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
    const server = await startFakeProviderServer({ latencyMs: 30, ...options })
    this.add(() => server.close())
    return server
  }

  /** A temporary project with refs/a.png, refs/b.jpg, masks/m.png and the given manifest. */
  async project(manifest: Manifest): Promise<string> {
    const { dir, cleanup } = await tempDir('images-edit-prov-')
    this.add(cleanup)
    await writeFiles(dir, {
      'refs/a.png': await makeImage({ ...REF_SIZE, color: { r: 200, g: 80, b: 40 } }),
      'refs/b.jpg': await makeImage({ ...REF_SIZE, format: 'jpeg', color: { r: 30, g: 90, b: 220 } }),
      'masks/m.png': await makeMask(REF_SIZE.width, REF_SIZE.height),
    })
    await writeManifest(dir, manifest)
    return dir
  }
}

/** The manifest as the tests write it (JSON is valid YAML). */
export interface Manifest {
  provider: Hosted
  defaults?: Record<string, unknown>
  recipes: Record<string, Record<string, unknown>>
  /** Merged over {@link FAST_SETTINGS} for the manifest's provider. */
  settings?: Record<string, unknown>
  concurrency?: number
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const document = {
    version: 1,
    out: 'out',
    defaults: { provider: manifest.provider, ratio: '1:1', resolution: '1k', quality: 'high', ...manifest.defaults },
    providers: { [manifest.provider]: { ...FAST_SETTINGS, ...manifest.settings } },
    ...(manifest.concurrency !== undefined ? { concurrency: manifest.concurrency } : {}),
    recipes: manifest.recipes,
  }
  await writeFile(join(dir, 'images.edit.yaml'), `${JSON.stringify(document, null, 2)}\n`)
}

/** Environment pointing every hosted provider at the fake server. */
export function serverEnv(server: FakeProviderServer, key: string = server.apiKey): Record<string, string> {
  const env: Record<string, string> = {}
  for (const id of HOSTED) {
    env[KEY_ENV[id]] = key
    env[BASE_ENV[id]] = server.baseUrls[id]
  }
  return env
}

/** A build through the engine API, with every event collected. */
export async function build(dir: string, env: Record<string, string>, options: BuildOptions = {}): Promise<{ result: BuildResult; events: RunEvent[] }> {
  const events: RunEvent[] = []
  const project = await openProject({ cwd: dir, env })
  try {
    const result = await project.build({
      frozen: false,
      ...options,
      onEvent: (event) => {
        events.push(event)
        options.onEvent?.(event)
      },
    })
    return { result, events }
  } finally {
    await project.close()
  }
}

/** A stored job record (`.images-edit/records/<key>.json`). */
export interface StoredRecord {
  key: string
  provider: string
  takes: {
    take: number
    images: { sha256: string; width: number; height: number; format: string }[]
    runs: { firstIndex: number; count: number; taskId?: string; usage?: Record<string, unknown>; warnings: string[] }[]
  }[]
}

/** Every record in the store. */
export async function readRecords(dir: string): Promise<StoredRecord[]> {
  const folder = join(dir, '.images-edit', 'records')
  const names = (await readdir(folder).catch(() => [] as string[])).filter((name) => name.endsWith('.json')).sort()
  return Promise.all(names.map(async (name) => JSON.parse(await readFile(join(folder, name), 'utf8')) as StoredRecord))
}

/** Files in `.images-edit/journal/`. */
export async function journalFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, '.images-edit', 'journal')).catch(() => [] as string[])).filter((name) => name.endsWith('.json'))
}

/** The requests the server saw on one route, in order. */
export function requestsOn(server: FakeProviderServer, route: string) {
  return server.requests.filter((request) => request.route === route)
}

/** Polls `check` every 25 ms until it returns true; rejects after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
