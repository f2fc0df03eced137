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
import { XMLParser } from 'fast-xml-parser'

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

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'Contents' })

export class S3Client {
  private readonly aws: AwsClient
  private readonly base: string

  constructor(
    readonly location: S3Location,
    credentials: S3Credentials,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
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

  /** Stores bytes; `Content-MD5` makes the server refuse a body damaged on the way. */
  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    const md5 = createHash('md5').update(body).digest('base64')
    await this.send('PUT', this.url(key), { body, headers: { 'content-type': contentType, 'content-md5': md5 } })
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
    options: { body?: Uint8Array; headers?: Record<string, string>; ok404?: boolean; readBody?: boolean },
  ): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
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

function errorCode(text: string): string | undefined {
  try {
    const code = parser.parse(text)?.Error?.Code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  if ((error as Error).name === 'TimeoutError') return 'timed out'
  return cause?.code ?? cause?.message ?? (error as Error).message
}

/** URLs in messages never carry a query (a continuation token, a presigned signature). */
function redactQuery(url: string): string {
  return url.split('?')[0] as string
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
