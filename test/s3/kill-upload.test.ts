/**
 * Issue 12 point 9: `kill -9` while a build uploads its results leaves nothing half-visible in the
 * bucket (no record naming an object that is not there, no partial object), the results stay
 * queued locally, and the next run finishes the upload: a fresh clone then pays nothing.
 */
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { FakeProviderServer } from '../fake-provider/src/index.js'
import { listFiles, runCli, spawnCli, tempDir } from '../helpers.js'
import { PAID_ROUTE, Resources, requestsOn, serverEnv, until } from '../providers/harness.js'
import { S3_CREDENTIALS, type S3TestServer, startS3Server } from './s3-server.js'

const resources = new Resources()
let bucket: S3TestServer
let provider: FakeProviderServer

beforeAll(async () => {
  bucket = await startS3Server()
  resources.add(() => bucket.close())
  provider = await resources.server()
})
afterAll(() => resources.release())

const env = (prefix: string) => ({
  ...serverEnv(provider),
  AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
  IMAGES_EDIT_REMOTE: `s3://${bucket.bucket}/${prefix}`,
  IMAGES_EDIT_REMOTE_ENDPOINT: bucket.endpoint,
  IMAGES_EDIT_REMOTE_KEY: 'team-key-for-kill-test',
})

it('kill -9 during an upload: nothing half-visible in the bucket; the next run finishes the upload', async () => {
  const prefix = 'killed'
  const dir = await resources.project({
    provider: 'toapis',
    recipes: { hero: { prompt: 'killed hero', refs: ['refs/a.png'], n: 2 }, card: { prompt: 'killed card', refs: ['refs/b.jpg'] } },
  })
  // Object uploads hang: the build is killed while they are in flight.
  bucket.inject((method, url) => (method === 'PUT' && url.includes('/objects/') ? { holdMs: 60_000 } : 'pass'))
  const child = spawnCli(['build'], { cwd: dir, env: env(prefix) })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
  try {
    await until(() => bucket.requests.some((line) => line.startsWith(`PUT /${bucket.bucket}/${prefix}/objects/`)), 30_000, 'an object upload')
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
  } finally {
    bucket.inject(undefined)
  }
  expect(requestsOn(provider, PAID_ROUTE.toapis)).toHaveLength(2)
  // Nothing half-visible: no record went up (objects go first), and no object at all.
  const { S3Client } = await import('../../packages/core/src/remote/s3-client.js')
  const raw = new S3Client({ bucket: bucket.bucket, prefix, endpoint: bucket.endpoint, region: 'us-east-1', forcePathStyle: true }, S3_CREDENTIALS)
  expect(await raw.list(`${prefix}/`)).toEqual([])
  // Both results are queued locally, stored, and the outputs written.
  expect(await listFiles(join(dir, '.images-edit/push-queue'))).toHaveLength(2)

  // The next run (a no-op build: nothing to generate) finishes the upload.
  const next = await runCli(['build'], { cwd: dir, env: env(prefix) })
  expect(next.code, next.stderr).toBe(0)
  expect(await listFiles(join(dir, '.images-edit/push-queue')).catch(() => [])).toEqual([])
  const keys = (await raw.list(`${prefix}/`)).map((entry) => entry.key)
  expect(keys.filter((key) => key.includes('/objects/'))).toHaveLength(3)
  expect(keys.filter((key) => key.includes('/records/'))).toHaveLength(2)

  // A fresh clone without outputs or lock pays nothing.
  const { dir: clone, cleanup } = await tempDir('images-edit-clone-')
  resources.add(cleanup)
  for (const entry of ['images.edit.yaml', 'refs', 'masks']) await cp(join(dir, entry), join(clone, entry), { recursive: true })
  const fresh = await runCli(['build'], { cwd: clone, env: env(prefix) })
  expect(fresh.code, fresh.stderr).toBe(0)
  expect(requestsOn(provider, PAID_ROUTE.toapis)).toHaveLength(2)
})
