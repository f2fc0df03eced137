// A small S3 client: the handful of calls the team store needs (HEAD, GET, PUT, DELETE, ListObjectsV2), signed with SigV4.
//
// Signing is aws4fetch's (zero dependencies, SigV4 over the global fetch and WebCrypto); the XML
// of listings and errors is read with fast-xml-parser. Both are loaded only when a remote is
// configured (see `remote/open-remote.ts`). The AWS SDK v3 was not chosen: it is the reference
// client but pulls in dozens of packages and announces Node >= 22 for its releases after
// January 2027, while we support Node 20.19. Retries are ours (aws4fetch's are turned off) so
// that every free call to the bucket backs off the same way on 5xx, 429, `SlowDown` and network
// errors, within a bounded number of attempts.
import { createHash } from 'node:crypto'
import { AwsClient } from 'aws4fetch'
import { describeNetworkError, errorCode, escapeXml, lockedBody, md5Of, parser, parseXml, redactQuery, sleep } from './s3-wire.js'

/** Where a bucket is and how to reach it. */
export interface S3Location {
  bucket: string
  /** Key prefix inside the bucket, without leading or trailing slash ('' for none). */
  prefix: string
  /** Endpoint URL (MinIO, R2, a test server); when absent, AWS's regional endpoint. */
  endpoint?: string
  region: string
  /** Address the bucket as `<endpoint>/<bucket>/` rather than `<bucket>.<endpoint>/`. */
  forcePathStyle: boolean
}

export interface S3Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** How often and how patiently free calls to the bucket are retried. */
export interface RetryPolicy {
  attempts: number
  /** First backoff in ms; doubled each attempt, with jitter. */
  baseDelayMs: number
  /** Per request. */
  timeoutMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, timeoutMs: 30_000 }

/** When a PUT becomes a multipart upload, and how it is cut. */
export interface MultipartPolicy {
  /** Objects larger than this are uploaded in parts. */
  thresholdBytes: number
  /** Size of every part but the last (S3 wants at least 5 MiB). */
  partBytes: number
  /** Parts in flight at once, per object. */
  parallel: number
}

/**
 * A 4K PNG is 20–30 MB: above 16 MiB, parts of 8 MiB (the AWS CLI's size), 4 at a time, so a
 * connection dropped near the end costs one part again, not the whole object.
 */
export const DEFAULT_MULTIPART: MultipartPolicy = { thresholdBytes: 16 * 1024 * 1024, partBytes: 8 * 1024 * 1024, parallel: 4 }

/** The bucket could not be asked (unreachable, timing out, refusing): the answer is unknown, not "missing". */
export class RemoteUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RemoteUnavailableError'
  }
}

/** One entry of a listing. */
export interface ListedObject {
  key: string
  size: number
  lastModified: string
}

export class S3Client {
  private readonly aws: AwsClient
  private readonly base: string

  constructor(
    readonly location: S3Location,
    credentials: S3Credentials,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly multipart: MultipartPolicy = DEFAULT_MULTIPART,
  ) {
    this.aws = new AwsClient({ ...credentials, region: location.region, service: 's3', retries: 0 })
    const endpoint = (location.endpoint ?? `https://s3.${location.region}.amazonaws.com`).replace(/\/+$/, '')
    // A bucket name with dots does not fit the TLS certificate of `<bucket>.s3.<region>.amazonaws.com`: path style then.
    if (location.forcePathStyle || location.bucket.includes('.')) this.base = `${endpoint}/${encodeURIComponent(location.bucket)}`
    else {
      const url = new URL(endpoint)
      url.hostname = `${location.bucket}.${url.hostname}`
      this.base = url.toString().replace(/\/+$/, '')
    }
  }

  /** The full key of a name under the prefix. */
  key(name: string): string {
    return this.location.prefix ? `${this.location.prefix}/${name}` : name
  }

  private url(key: string, query = ''): string {
    return `${this.base}/${key.split('/').map(encodeURIComponent).join('/')}${query}`
  }

  /** Size and ETag of an object; undefined when there is none. */
  async head(key: string): Promise<{ size: number; etag: string } | undefined> {
    const response = await this.send('HEAD', this.url(key), { ok404: true })
    if (response.status === 404) return undefined
    return { size: Number(response.headers.get('content-length') ?? 0), etag: (response.headers.get('etag') ?? '').replaceAll('"', '') }
  }

  /** The object's bytes; undefined when there is none. A body cut short is retried, never returned. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const response = await this.send('GET', this.url(key), { ok404: true, readBody: true })
    return response.status === 404 ? undefined : response.body
  }

  /**
   * The object's body as it arrives; undefined when there is none. Retried like any call until
   * the answer starts; a body cut short after that makes the iteration throw (the caller retries).
   */
  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const response = await this.send('GET', this.url(key), { ok404: true, stream: true })
    return response.status === 404 ? undefined : response.stream
  }

  /**
   * Stores bytes; `Content-MD5` makes the server refuse a body damaged on the way. Large objects
   * go up in parts ({@link MultipartPolicy}); either way the object appears whole or not at all.
   */
  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    if (body.byteLength > this.multipart.thresholdBytes) return this.putInParts(key, body, contentType)
    await this.send('PUT', this.url(key), { body, headers: { 'content-type': contentType, 'content-md5': md5Of(body, 'base64') } })
  }

  /**
   * Whether an ETag the server reports is certainly that of these bytes, uploaded as {@link put}
   * uploads them: a plain MD5, or S3's multipart ETag (the MD5 of the parts' MD5s, `-<parts>`).
   * undefined when the ETag says nothing checkable (another client's part size, an encrypted
   * object's opaque ETag).
   */
  etagMatches(etag: string, body: Uint8Array): boolean | undefined {
    if (/^[0-9a-f]{32}$/.test(etag)) return etag === md5Of(body, 'hex')
    const multipart = /^([0-9a-f]{32})-(\d+)$/.exec(etag)
    const parts = this.parts(body)
    if (!multipart || Number(multipart[2]) !== parts.length) return undefined
    const digests = Buffer.concat(parts.map((part) => createHash('md5').update(part).digest()))
    return multipart[1] === md5Of(digests, 'hex')
  }

  /** The parts {@link put} cuts a body into. */
  private parts(body: Uint8Array): Uint8Array[] {
    const { partBytes } = this.multipart
    return Array.from({ length: Math.ceil(body.byteLength / partBytes) }, (_, index) => body.subarray(index * partBytes, (index + 1) * partBytes))
  }

  /**
   * A multipart upload: create, parts (each retried on its own, a few at a time), complete. Until
   * completed nothing is visible under the key; on failure the upload is aborted so its parts are
   * not kept (and billed), and a lifecycle rule (AbortIncompleteMultipartUpload) catches what a
   * killed process could not abort.
   */
  private async putInParts(key: string, body: Uint8Array, contentType: string): Promise<void> {
    const created = await this.send('POST', this.url(key, '?uploads'), { headers: { 'content-type': contentType }, readBody: true })
    const uploadId = String(parseXml(created.body).InitiateMultipartUploadResult?.UploadId ?? '')
    if (!uploadId) throw new Error(`POST ${this.url(key)}?uploads: no UploadId in the answer`)
    const query = (extra: string) => `?${extra}uploadId=${encodeURIComponent(uploadId)}`
    let completing = false
    try {
      const parts = this.parts(body)
      const etags: string[] = []
      let next = 0
      let failed = false
      const worker = async () => {
        // Once a part has failed for good no worker takes another, so the abort below comes after
        // the last part sent (S3 may keep a part still arriving during an abort, and bill it).
        for (let index = next++; index < parts.length && !failed; index = next++) {
          const part = parts[index] as Uint8Array
          try {
            const answer = await this.send('PUT', this.url(key, query(`partNumber=${index + 1}&`)), {
              body: part,
              headers: { 'content-md5': md5Of(part, 'base64') },
            })
            etags[index] = answer.headers.get('etag') ?? ''
          } catch (error) {
            failed = true
            throw error
          }
        }
      }
      const settled = await Promise.allSettled(Array.from({ length: Math.min(this.multipart.parallel, parts.length) }, worker))
      const rejected = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')
      if (rejected) throw rejected.reason
      completing = true
      const xml = `<CompleteMultipartUpload>${etags.map((etag, index) => `<Part><PartNumber>${index + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`
      const completed = await this.send('POST', this.url(key, query('')), {
        body: new TextEncoder().encode(xml),
        headers: { 'content-type': 'application/xml' },
        readBody: true,
      })
      // S3 may answer 200 and put the error in the body (it had started streaming its answer).
      const failure = errorCode(new TextDecoder().decode(completed.body))
      if (failure) throw new RemoteUnavailableError(`POST ${this.url(key)} (complete the upload): ${failure}`)
    } catch (error) {
      // A completion whose answer was lost is retried and then told NoSuchUpload: it did complete
      // if the key now holds these very bytes (size and ETag; a same-sized older copy does not count).
      if (completing) {
        const stored = await this.head(key).catch(() => undefined)
        if (stored?.size === body.byteLength && this.etagMatches(stored.etag, body) === true) return
      }
      await this.send('DELETE', this.url(key, query('')), { ok404: true }).catch(() => undefined)
      throw error
    }
  }

  /** HeadBucket: throws when the bucket does not exist (404) or refuses us (403). */
  async check(): Promise<void> {
    await this.send('HEAD', `${this.base}/`, {})
  }

  async delete(key: string): Promise<void> {
    await this.send('DELETE', this.url(key), { ok404: true })
  }

  /** Every object under a key prefix (ListObjectsV2, page by page). */
  async list(prefix: string): Promise<ListedObject[]> {
    const result: ListedObject[] = []
    let token: string | undefined
    do {
      const query = `?list-type=2&prefix=${encodeURIComponent(prefix)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`
      const response = await this.send('GET', `${this.base}${query}`, { readBody: true })
      const page = parser.parse(new TextDecoder().decode(response.body)).ListBucketResult ?? {}
      for (const entry of page.Contents ?? []) result.push({ key: String(entry.Key), size: Number(entry.Size), lastModified: String(entry.LastModified) })
      token = page.IsTruncated === 'true' ? String(page.NextContinuationToken ?? '') || undefined : undefined
    } while (token)
    return result
  }

  /**
   * One signed request, retried with exponential backoff and jitter on what is worth retrying:
   * network errors, timeouts, 5xx, 429 and `SlowDown`. Any other error status is final.
   */
  private async send(
    method: string,
    url: string,
    options: { body?: Uint8Array; headers?: Record<string, string>; ok404?: boolean; readBody?: boolean; stream?: boolean },
  ): Promise<{ status: number; headers: Headers; body: Uint8Array; stream?: AsyncIterable<Uint8Array> }> {
    let lastProblem = ''
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      if (attempt > 1) await sleep(this.retry.baseDelayMs * 2 ** (attempt - 2) * (0.5 + Math.random()))
      let response: Response
      try {
        response = await this.aws.fetch(url, {
          method,
          ...(options.body ? { body: options.body as Uint8Array<ArrayBuffer> } : {}),
          ...(options.headers ? { headers: options.headers } : {}),
          signal: AbortSignal.timeout(this.retry.timeoutMs),
        })
      } catch (error) {
        lastProblem = describeNetworkError(error)
        continue
      }
      // Only a missing key is "not there"; a missing bucket (NoSuchBucket), or a 404 from something
      // that is not S3, is an error. A HEAD has no body to tell: `check` asks the bucket first.
      if (response.status === 404 && options.ok404) {
        const code = method === 'HEAD' ? undefined : errorCode(await response.text().catch(() => ''))
        if (method === 'HEAD' || code === 'NoSuchKey') return { status: 404, headers: response.headers, body: new Uint8Array() }
        throw new Error(`${method} ${redactQuery(url)}: HTTP 404 ${code ?? '(not an S3 answer)'}: check the bucket name and the endpoint`)
      }
      if (response.ok) {
        if (options.stream && response.body) return { status: response.status, headers: response.headers, body: new Uint8Array(), stream: lockedBody(response) }
        if (!options.readBody) {
          await response.body?.cancel()
          return { status: response.status, headers: response.headers, body: new Uint8Array() }
        }
        try {
          return { status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) }
        } catch (error) {
          lastProblem = `the response was cut short (${describeNetworkError(error)})`
          continue
        }
      }
      const text = await response.text().catch(() => '')
      const code = errorCode(text)
      // A HEAD answer has no body: its status says it all (a HeadBucket 404 is a missing bucket).
      lastProblem = `HTTP ${response.status}${code ? ` ${code}` : method === 'HEAD' && response.status === 404 ? ' (no such bucket, or no such key)' : ''}`
      if (!(response.status >= 500 || response.status === 429 || code === 'SlowDown')) {
        throw new Error(
          `${method} ${redactQuery(url)}: ${lastProblem}${response.status === 403 ? ' (check the bucket credentials and their permissions)' : ''}`,
        )
      }
    }
    throw new RemoteUnavailableError(`${method} ${redactQuery(url)} failed ${this.retry.attempts} times; last: ${lastProblem}`)
  }
}
