// The team store's bucket for B15–B16: s3rver in this process on 127.0.0.1 (no proxy in front, so
// what is measured is s3rver and the client), counting every request that reaches it.
import S3rver from 's3rver'
import { scratch } from './lib.mjs'

/** s3rver's one account. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

/**
 * Starts s3rver with one bucket. `requests` lists every request that reached it, as
 * `METHOD /path?query`, in arrival order; `times[i]` is when request `i` arrived and when its
 * answer was sent (`performance.now()` of this process; `end` undefined until then).
 */
export async function startS3Server(bucket = 'team') {
  const { dir, cleanup } = await scratch('s3')
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket }] })
  const { port } = await s3rver.run()
  const requests = []
  const times = []
  s3rver.httpServer.on('request', (req, res) => {
    const time = { at: performance.now(), end: undefined }
    requests.push(`${req.method} ${req.url}`)
    times.push(time)
    res.on('close', () => {
      time.end = performance.now()
    })
  })
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    dir,
    requests,
    times,
    async close() {
      s3rver.httpServer.closeAllConnections?.()
      await s3rver.close()
      await cleanup()
    },
  }
}

/** Environment of a teammate whose project uses the bucket under `prefix` (path-style endpoint). */
export function remoteEnv(server, prefix, extra = {}) {
  return {
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    IMAGES_EDIT_REMOTE: `s3://${server.bucket}/${prefix}`,
    IMAGES_EDIT_REMOTE_ENDPOINT: server.endpoint,
    ...extra,
  }
}
