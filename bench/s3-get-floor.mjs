// The floor of B15, run as its own process (as the CLI is, so neither shares s3rver's event loop):
// plain SigV4-signed GETs of the given keys with aws4fetch, `parallel` at a time, each body read
// whole and written to a file in `outDir`. No hashing, no temp file, no fsync: raw GETs (with
// `fsync: true`, each file is fsynced before it is closed: the least a durable write costs).
// Usage: node bench/s3-get-floor.mjs <job.json>, where job.json is
// { endpoint, bucket, keys: string[], outDir, parallel, accessKeyId, secretAccessKey, fsync? }.
// Prints one JSON line: { ms, bytes, objects } (ms = the GET loop alone, after start-up).
import { mkdir, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AwsClient } from 'aws4fetch'
import { pool } from './lib.mjs'

const job = JSON.parse(await readFile(process.argv[2], 'utf8'))
const aws = new AwsClient({ accessKeyId: job.accessKeyId, secretAccessKey: job.secretAccessKey, region: 'us-east-1', service: 's3', retries: 0 })
await mkdir(job.outDir, { recursive: true })
const started = performance.now()
let bytes = 0
await pool(job.keys, job.parallel, async (key, index) => {
  const response = await aws.fetch(`${job.endpoint}/${job.bucket}/${key}`)
  if (!response.ok) throw new Error(`GET ${key}: HTTP ${response.status}`)
  const body = new Uint8Array(await response.arrayBuffer())
  bytes += body.byteLength
  const handle = await open(join(job.outDir, `o${index}`), 'w')
  try {
    await handle.writeFile(body)
    if (job.fsync) await handle.sync()
  } finally {
    await handle.close()
  }
})
console.log(JSON.stringify({ ms: performance.now() - started, bytes, objects: job.keys.length }))
