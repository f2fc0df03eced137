// Large objects go up in parts: create, parts retried one by one, complete; aborted on failure, so a
// failed upload leaves no parts behind and nothing visible. Against s3rver over real HTTP.
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { sha256 } from '../../packages/core/src/hash/content-hash.js'
import { type MultipartPolicy, S3Client } from '../../packages/core/src/remote/s3-client.js'
import { S3Store } from '../../packages/core/src/remote/s3-store.js'
import { S3_CREDENTIALS, type S3TestServer, startS3Server } from './s3-server.js'

let server: S3TestServer
let run = 0
beforeAll(async () => {
  server = await startS3Server()
})
afterAll(() => server.close())

/** Small parts so that a test object of a few hundred KiB is cut in several (S3's 5 MiB minimum is not enforced by s3rver). */
const SMALL: MultipartPolicy = { thresholdBytes: 256 * 1024, partBytes: 100 * 1024, parallel: 2 }
const storeAt = (prefix: string) =>
  new S3Store(
    new S3Client(
      { bucket: server.bucket, prefix, endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true },
      S3_CREDENTIALS,
      { attempts: 3, baseDelayMs: 10, timeoutMs: 10_000 },
      SMALL,
    ),
    { signingKey: 'k' },
  )
const requestsDuring = async (work: () => Promise<unknown>) => {
  const before = server.requests.length
  await work()
  return server.requests.slice(before)
}

it('an object over the threshold is uploaded in parts, reads back byte-identical, and is not uploaded twice', async () => {
  const store = storeAt(`multipart/${++run}`)
  const bytes = randomBytes(450 * 1024)
  const requests = await requestsDuring(() => store.putObject(bytes))
  expect(requests.filter((line) => line.startsWith('POST') && line.endsWith('?uploads'))).toHaveLength(1)
  expect(requests.filter((line) => /^PUT .*[?&]partNumber=\d+/.test(line))).toHaveLength(5)
  expect(requests.filter((line) => /^POST .*\?uploadId=/.test(line))).toHaveLength(1)
  expect(Buffer.from((await store.getObject(sha256(bytes))) ?? [])).toEqual(bytes)
  expect(await server.pendingUploads()).toBe(0)
  // Stored and the same (size and ETag): the second put only asks.
  const again = await requestsDuring(() => store.putObject(bytes))
  expect(again.map((line) => line.split(' ')[0])).toEqual(['HEAD'])
  // An object under the threshold stays one PUT.
  const small = await requestsDuring(() => store.putObject(randomBytes(1000)))
  expect(small.filter((line) => line.startsWith('PUT'))).toHaveLength(1)
  expect(small.some((line) => line.includes('uploadId'))).toBe(false)
})

it('a part whose connection drops is sent again on its own; the rest are sent once', async () => {
  const store = storeAt(`multipart/${++run}`)
  const bytes = randomBytes(450 * 1024)
  let drops = 1
  server.inject((method, url) => (method === 'PUT' && url.includes('partNumber=3&') && drops-- > 0 ? 'drop' : 'pass'))
  let requests: string[]
  try {
    requests = await requestsDuring(() => store.putObject(bytes))
  } finally {
    server.inject(undefined)
  }
  const parts = requests.filter((line) => line.startsWith('PUT')).map((line) => /partNumber=(\d+)/.exec(line)?.[1])
  // The dropped request is in the log (it arrived whole), then its retry.
  expect(parts.filter((part) => part === '3').length).toBe(2)
  expect(parts.filter((part) => part !== '3').sort()).toEqual(['1', '2', '4', '5'])
  expect(Buffer.from((await store.getObject(sha256(bytes))) ?? [])).toEqual(bytes)
})

it('a part refused for good aborts the upload: no parts left on the server, nothing visible, the error says why', async () => {
  const store = storeAt(`multipart/${++run}`)
  const bytes = randomBytes(450 * 1024)
  server.inject((method, url) => (method === 'PUT' && url.includes('partNumber=4&') ? { status: 403, code: 'AccessDenied' } : 'pass'))
  let requests: string[] = []
  try {
    const before = server.requests.length
    await expect(store.putObject(bytes)).rejects.toThrow(/HTTP 403 AccessDenied/)
    requests = server.requests.slice(before)
  } finally {
    server.inject(undefined)
  }
  expect(requests.filter((line) => /^DELETE .*\?uploadId=/.test(line))).toHaveLength(1)
  expect(requests.some((line) => /^POST .*\?uploadId=/.test(line))).toBe(false)
  expect(await server.pendingUploads()).toBe(0)
  expect(await store.hasObject(sha256(bytes))).toBe(false)
  expect(await store.listObjects()).toEqual([])
})

it('a completion whose answer is lost is not reported as a failure: the object is there', async () => {
  const store = storeAt(`multipart/${++run}`)
  const bytes = randomBytes(300 * 1024)
  // The completion reaches s3rver, then the answer never comes back (forwarded, then the socket
  // dies); its retry is told NoSuchUpload, as S3 tells it once the upload is complete.
  const completions: string[] = []
  server.inject((method, url) => {
    if (method !== 'POST' || !url.includes('?uploadId=')) return 'pass'
    completions.push(url)
    return completions.length === 1 ? 'lose-answer' : { status: 404, code: 'NoSuchUpload' }
  })
  try {
    expect(await store.putObject(bytes)).toBe(sha256(bytes))
  } finally {
    server.inject(undefined)
  }
  expect(completions).toHaveLength(2)
  expect(Buffer.from((await store.getObject(sha256(bytes))) ?? [])).toEqual(bytes)
})

it("recognises S3's multipart ETag of the same bytes (MD5 of the parts' MD5s), and says when an ETag cannot be checked", () => {
  const client = new S3Client(
    { bucket: 'b', prefix: '', endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true },
    S3_CREDENTIALS,
    undefined,
    SMALL,
  )
  const bytes = randomBytes(450 * 1024)
  const md5 = (data: Uint8Array) => createHash('md5').update(data).digest()
  const parts = [0, 1, 2, 3, 4].map((index) => bytes.subarray(index * SMALL.partBytes, (index + 1) * SMALL.partBytes))
  const multipart = `${md5(Buffer.concat(parts.map(md5))).toString('hex')}-5`
  expect(client.etagMatches(multipart, bytes)).toBe(true)
  expect(client.etagMatches(multipart, randomBytes(450 * 1024))).toBe(false)
  expect(client.etagMatches(md5(bytes).toString('hex'), bytes)).toBe(true)
  // Uploaded by a client with another part size, or encrypted with a KMS key: nothing to compare.
  expect(client.etagMatches(`${'0'.repeat(32)}-3`, bytes)).toBeUndefined()
  expect(client.etagMatches('opaque-etag', bytes)).toBeUndefined()
})
