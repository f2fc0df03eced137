// The ResultStore conformance suite, run against S3Store speaking real S3 over HTTP to s3rver on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { S3Client } from '../../packages/core/src/remote/s3-client.js'
import { S3Store } from '../../packages/core/src/remote/s3-store.js'
import { type StoreFaults, type StoreUnderTest, testResultStore } from '../../packages/core/src/store/store-conformance.js'
import { bytesOf, hashOf, recordOf } from '../../packages/core/src/store/store-conformance-fixtures.js'
import { S3_CREDENTIALS, type S3TestServer, startS3Server } from './s3-server.js'

const TEAM_KEY = 'team-key-for-tests'
let server: S3TestServer
let run = 0

beforeAll(async () => {
  server = await startS3Server()
})
afterAll(() => server.close())

const clientFor = (prefix: string, retry = { attempts: 3, baseDelayMs: 10, timeoutMs: 10_000 }) =>
  new S3Client({ bucket: server.bucket, prefix, endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true }, S3_CREDENTIALS, retry)

/** An S3Store under a fresh prefix of the shared bucket; faults are done with raw S3 calls that bypass the store. */
async function s3Store(): Promise<StoreUnderTest> {
  const prefix = `conformance/${++run}`
  const raw = clientFor(prefix)
  const objectKey = (hash: string) => raw.key(`objects/${hash.slice(0, 2)}/${hash.slice(2)}`)
  const recordKey = (key: string) => raw.key(`records/${key}.json`)
  const rewrite = async (key: string, change: (bytes: Uint8Array) => Uint8Array) => {
    const bytes = await raw.get(key)
    if (!bytes) throw new Error(`${key} is not stored`)
    await raw.put(key, change(bytes))
  }
  const faults: StoreFaults = {
    corruptObject: (hash) =>
      rewrite(objectKey(hash), (bytes) => {
        const copy = Uint8Array.from(bytes)
        copy[0] = (copy[0] ?? 0) ^ 0xff
        return copy
      }),
    truncateObject: (hash) => rewrite(objectKey(hash), (bytes) => bytes.subarray(0, Math.floor(bytes.byteLength / 2))),
    truncateRecord: (key) => rewrite(recordKey(key), (bytes) => bytes.subarray(0, Math.floor(bytes.byteLength / 2))),
    // A writer killed mid-upload: its PUT is cut off halfway (S3 then stores nothing).
    abandonObjectWrite: (bytes) => server.tornPut(objectKey(hashOf(bytes)), bytes),
    abandonRecordWrite: (record) => server.tornPut(recordKey(record.key), new TextEncoder().encode(JSON.stringify(record))),
    leftovers: () => server.pendingUploads(),
  }
  const open = () => new S3Store(clientFor(prefix), { signingKey: TEAM_KEY })
  return { store: open(), open, faults, cleanup: async () => {} }
}

testResultStore('S3Store on s3rver', s3Store)

describe('S3Store', () => {
  it('faults are real: a torn PUT reached the server and stored nothing', async () => {
    const { store, faults } = await s3Store()
    const [cut, puts] = [server.cutShort(), server.requests.filter((line) => line.startsWith('PUT')).length]
    await faults.abandonObjectWrite(bytesOf('torn', 300_000))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(server.cutShort()).toBe(cut + 1)
    expect(await store.listObjects()).toEqual([])
    expect(await store.hasObject(hashOf(bytesOf('torn', 300_000)))).toBe(false)
    // The proxy saw the half body and forwarded nothing.
    expect(server.requests.filter((line) => line.startsWith('PUT')).length).toBe(puts)
  })

  it('ignores, with a warning, a record whose signature is missing, wrong, or made with another key', async () => {
    const warnings: string[] = []
    const prefix = `trust/${++run}`
    const ours = new S3Store(clientFor(prefix), { signingKey: TEAM_KEY, onWarning: (message) => warnings.push(message) })
    const record = recordOf('trusted', [bytesOf('img')])
    await ours.putRecord(record)
    expect(await ours.getRecord(record.key)).toEqual(record)

    // Someone with write access to the bucket but not the team key swaps the record's image.
    const raw = clientFor(prefix)
    const stored = JSON.parse(new TextDecoder().decode(await raw.get(raw.key(`records/${record.key}.json`))))
    stored.takes[0].images[0].sha256 = hashOf('evil')
    await raw.put(raw.key(`records/${record.key}.json`), new TextEncoder().encode(JSON.stringify(stored)))
    expect(await ours.getRecord(record.key)).toBeUndefined()

    const unsigned = recordOf('unsigned')
    await raw.put(raw.key(`records/${unsigned.key}.json`), new TextEncoder().encode(JSON.stringify(unsigned)))
    expect(await ours.getRecord(unsigned.key)).toBeUndefined()

    const other = recordOf('other key')
    await new S3Store(clientFor(prefix), { signingKey: 'another team' }).putRecord(other)
    expect(await ours.getRecord(other.key)).toBeUndefined()
    expect(warnings).toHaveLength(3)
    expect(warnings.join('\n')).toMatch(/ignored: its signature does not match the team key/)
    expect(warnings.join('\n')).not.toContain(TEAM_KEY)
  })

  it('without the team key, trusts no record and refuses to write one', async () => {
    const prefix = `nokey/${++run}`
    const record = recordOf('signed')
    await new S3Store(clientFor(prefix), { signingKey: TEAM_KEY }).putRecord(record)
    const warnings: string[] = []
    const keyless = new S3Store(clientFor(prefix), { onWarning: (message) => warnings.push(message) })
    expect(await keyless.getRecord(record.key)).toBeUndefined()
    expect(warnings[0]).toMatch(/no team key is set \(IMAGES_EDIT_REMOTE_KEY\)/)
    await expect(keyless.putRecord(record)).rejects.toThrow(/IMAGES_EDIT_REMOTE_KEY/)
    // Objects are named by their sha256 and verified on read: they need no key.
    const bytes = bytesOf('object')
    await keyless.putObject(bytes)
    expect(await keyless.hasObject(hashOf(bytes))).toBe(true)
  })

  it('retries 5xx and SlowDown with backoff, and reports the bucket unavailable when they persist', async () => {
    const prefix = `faults/${++run}`
    const store = new S3Store(clientFor(prefix), { signingKey: TEAM_KEY })
    const bytes = bytesOf('retried')
    let failures = 2
    server.inject((method) => (method === 'PUT' && failures-- > 0 ? { status: 503, code: 'SlowDown' } : 'pass'))
    try {
      expect(await store.putObject(bytes)).toBe(hashOf(bytes))
      expect(failures).toBe(-1)
      server.inject(() => ({ status: 500, code: 'InternalError' }))
      await expect(store.getObject(hashOf(bytes))).rejects.toThrow(/failed 3 times; last: HTTP 500 InternalError/)
      server.inject(() => 'drop')
      await expect(store.hasObject(hashOf(bytes))).rejects.toMatchObject({ name: 'RemoteUnavailableError' })
    } finally {
      server.inject(undefined)
    }
    expect(await store.hasObject(hashOf(bytes))).toBe(true)
  })
})
