/**
 * Issue 14: the read-through streams each object from the bucket straight into the local store's
 * temporary file, hashed as it arrives. Through the real CLI against s3rver behind the test proxy:
 * an object whose bytes in the bucket do not match the lock's sha256 never lands (no object, no
 * output, no leftover); a body cut short mid-download is fetched again and lands whole; a body cut
 * short every time means exit 3 and nothing written.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listFiles, readLockFile, runCli } from '../helpers.js'
import { S3_CREDENTIALS } from './s3-server.js'
import { outputsOf, Team } from './team-fixture.js'

const team = new Team()
beforeAll(() => team.start())
afterAll(() => team.release())

/** CI: frozen, no provider key, no team key (the lock's sha256 pins need no signed record). */
const ciEnv = (prefix: string) => team.env(prefix, { CI: 'true', TOAPIS_API_KEY: undefined, IMAGES_EDIT_REMOTE_KEY: undefined })

/** A project built (and pushed) by teammate A: its folder, bucket prefix, outputs and the card's locked sha256. */
async function built(): Promise<{ dir: string; prefix: string; outputs: Record<string, string>; card: string }> {
  const { dir, prefix } = await team.project()
  const result = await runCli(['build'], { cwd: dir, env: team.env(prefix) })
  expect(result.code, result.stderr).toBe(0)
  const card = (await readLockFile(dir)).jobs.card?.outputs[0]?.sha256 as string
  return { dir, prefix, outputs: await outputsOf(dir), card }
}

const objectPath = (prefix: string, hash: string) => `/${team.bucket.bucket}/${prefix}/objects/${hash.slice(0, 2)}/${hash.slice(2)}`

/** Every file in a clone that is an object in its local store, or a leftover of an unfinished write. */
async function stored(clone: string): Promise<{ objects: string[]; leftovers: string[] }> {
  const objects = (await listFiles(join(clone, '.images-edit', 'objects'))).map((name) => name.replace('/', ''))
  const leftovers = (await listFiles(clone)).filter((name) => name.includes('.images-edit-tmp-'))
  return { objects, leftovers }
}

describe.sequential('a fresh CI clone restoring from the bucket, streamed', () => {
  it('an object whose bytes in the bucket do not match the lock never lands: no object, no output, nothing paid', async () => {
    const a = await built()
    // Someone with write access swaps the card's bytes for others of the same length.
    const { AwsClient } = await import('aws4fetch')
    const raw = new AwsClient({ ...S3_CREDENTIALS, region: 'us-east-1', service: 's3', retries: 0 })
    const url = `${team.bucket.endpoint}${objectPath(a.prefix, a.card)}`
    const bytes = new Uint8Array(await (await raw.fetch(url)).arrayBuffer())
    bytes[bytes.byteLength >> 1] = (bytes[bytes.byteLength >> 1] as number) ^ 0xff
    expect((await raw.fetch(url, { method: 'PUT', body: bytes })).status).toBe(200)

    const clone = await team.clone(a.dir, true)
    const before = team.paid()
    const result = await runCli(['build'], { cwd: clone, env: ciEnv(a.prefix) })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/card/)
    expect(team.paid()).toBe(before)
    const { objects, leftovers } = await stored(clone)
    expect(objects).not.toContain(a.card)
    expect(leftovers).toEqual([])
    expect(Object.keys(await outputsOf(clone))).not.toContain('card.png')
  })

  it('a body cut short mid-download is fetched again and lands whole', async () => {
    const a = await built()
    const clone = await team.clone(a.dir, true)
    const cut = new Set<string>()
    team.bucket.inject((method, url) => {
      if (method !== 'GET' || !url.includes('/objects/') || cut.has(url)) return 'pass'
      cut.add(url)
      return 'cut-answer'
    })
    const from = team.bucket.requests.length
    try {
      const result = await runCli(['build'], { cwd: clone, env: ciEnv(a.prefix) })
      expect(result.code, result.stderr).toBe(0)
    } finally {
      team.bucket.inject(undefined)
    }
    expect(cut.size).toBe(3)
    const gets = team.bucket.requests.slice(from).filter((line) => line.startsWith('GET ') && line.includes('/objects/'))
    expect(gets).toHaveLength(6)
    expect(await outputsOf(clone)).toEqual(a.outputs)
    expect((await stored(clone)).leftovers).toEqual([])
    expect(await readFile(join(clone, 'out', 'card.png'))).toEqual(Buffer.from(a.outputs['card.png'] as string, 'base64'))
  })

  it('a body cut short on every attempt: exit 3, nothing stored, nothing written', async () => {
    const a = await built()
    const clone = await team.clone(a.dir, true)
    team.bucket.inject((method, url) => (method === 'GET' && url.includes('/objects/') ? 'cut-answer' : 'pass'))
    try {
      const result = await runCli(['build'], { cwd: clone, env: ciEnv(a.prefix) })
      expect(result.code, result.stderr).toBe(3)
      expect(result.stderr).toMatch(/could not ask the team store/)
    } finally {
      team.bucket.inject(undefined)
    }
    expect(await stored(clone)).toEqual({ objects: [], leftovers: [] })
    expect(await outputsOf(clone)).toEqual({})
  })
})
