// What the team-store tests share: one bucket (s3rver behind the test proxy), one fake provider
// counting paid submits, and projects cloned the way a teammate or CI gets them.
import { cp, readFile } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import type { FakeProviderServer } from '../fake-provider/src/index.js'
import { listFiles, tempDir } from '../helpers.js'
import { PAID_ROUTE, Resources, requestsOn, serverEnv } from '../providers/harness.js'
import { S3_CREDENTIALS, type S3TestServer, startS3Server } from './s3-server.js'

export const TEAM_KEY = 'team-key-0123456789abcdef'

/** Call {@link Team.start} in `beforeAll` and {@link Team.release} in `afterAll`. */
export class Team {
  readonly resources = new Resources()
  bucket!: S3TestServer
  provider!: FakeProviderServer
  private prefixes = 0

  async start(): Promise<void> {
    this.bucket = await startS3Server()
    this.resources.add(() => this.bucket.close())
    this.provider = await this.resources.server()
  }

  release(): Promise<void> {
    return this.resources.release()
  }

  /** Paid submits the fake provider has received so far. */
  paid(): number {
    return requestsOn(this.provider, PAID_ROUTE.toapis).length
  }

  /** Environment of a teammate: provider keys, bucket credentials, the team key and where the team store is. */
  env(prefix: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return {
      ...serverEnv(this.provider),
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      IMAGES_EDIT_REMOTE: `s3://${this.bucket.bucket}/${prefix}`,
      IMAGES_EDIT_REMOTE_ENDPOINT: this.bucket.endpoint,
      IMAGES_EDIT_REMOTE_KEY: TEAM_KEY,
      ...extra,
    }
  }

  /** A project of two toapis recipes (3 images, 2 paid submits) with a bucket prefix of its own. */
  async project(): Promise<{ dir: string; prefix: string }> {
    const prefix = `project-${++this.prefixes}`
    const dir = await this.resources.project({
      provider: 'toapis',
      recipes: {
        hero: { prompt: 'team hero', refs: ['refs/a.png'], n: 2 },
        card: { prompt: 'team card', refs: ['refs/b.jpg'] },
      },
    })
    return { dir, prefix }
  }

  /** A fresh clone of `source`: its manifest and inputs, and the lock if `withLock`; no outputs, no store. */
  async clone(source: string, withLock: boolean): Promise<string> {
    const { dir, cleanup } = await tempDir('images-edit-clone-')
    this.resources.add(cleanup)
    for (const entry of ['images.edit.yaml', 'refs', 'masks', ...(withLock ? ['images.edit.lock'] : [])])
      await cp(join(source, entry), join(dir, entry), { recursive: true })
    return dir
  }
}

/** Every file under `out/`, as base64, by relative path. */
export async function outputsOf(dir: string): Promise<Record<string, string>> {
  const files = await listFiles(join(dir, 'out')).catch(() => [] as string[])
  return Object.fromEntries(await Promise.all(files.map(async (file) => [file, (await readFile(join(dir, 'out', file))).toString('base64')])))
}

/** A port nothing listens on (bound, then closed); not a port fetch refuses to dial, like 9. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
