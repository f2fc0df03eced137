/**
 * Public types of the fake provider server. See README.md for what each route, option and fault
 * does and which behaviours come from shared/providers.md versus our own assumptions.
 */

/** Every route the server knows. Faults, counters and the request log are keyed by these ids. */
export type RouteId = 'toapis.upload' | 'toapis.submit' | 'toapis.poll' | 'toapis.models' | 'aa.generate' | 'openai.edit' | 'files.download'

/** All route ids, in a stable order. */
export const ROUTES: readonly RouteId[] = ['toapis.upload', 'toapis.submit', 'toapis.poll', 'toapis.models', 'aa.generate', 'openai.edit', 'files.download']

/** A fixed latency in milliseconds, or a uniform range sampled with the seeded PRNG. */
export type Latency = number | { min: number; max: number }

/** Options of {@link startFakeProviderServer}. */
export interface FakeServerOptions {
  /** Bearer key every API route requires (file downloads need none). @default 'test-key' */
  apiKey?: string
  /** How long a toapis task takes from submit to completed, and how long an aa/openai call waits before answering. @default 50 */
  latencyMs?: Latency
  /** How long result URLs stay downloadable after the result exists (toapis: 24 h in production). @default 86_400_000 */
  resultTtlMs?: number
  /** Status a new toapis task reports on submit and while queued (providers.md §1.2: both are seen). @default 'queued' */
  pollStatusOnSubmit?: 'queued' | 'pending'
  /** Seed of the PRNG used for latency ranges and `failEvery`. @default 1 */
  seed?: number
  /** How many progress steps an in-progress toapis task reports before it completes. @default 4 */
  progressSteps?: number
  /** Model ids each protocol accepts (anything else is a 400). */
  models?: { toapis?: readonly string[]; aa?: readonly string[]; openai?: readonly string[] }
  /** Largest `n` toapis accepts in one submit (the docs say 4 on one page and 10 on another). @default 4 */
  toapisMaxN?: number
  /**
   * Images at URLs this server did not issue that aa/openai/toapis should treat as reachable (the
   * server never touches the network). Any other foreign URL is reported as not downloadable.
   */
  externalImages?: Record<string, Uint8Array>
  /** Largest request body read, in bytes; larger bodies get a 413. @default 256 MiB */
  maxBodyBytes?: number
  /**
   * Requests per minute a route accepts, as a provider's rate limit: over any sliding 60 s, at most
   * this many requests to the route are processed; the next is answered 429 with `Retry-After`
   * (whole seconds until the oldest leaves the window) and nothing is created or counted. Refused
   * requests do not use up the window. Logged with `rateLimited: true`.
   */
  rateLimits?: Partial<Record<RouteId, number>>
  /**
   * Render each result size and format once and serve copies that differ only in a metadata chunk
   * carrying the seed (PNG `tEXt`, JPEG comment): every result still has its own bytes, but
   * thousands of them cost one render (scale benchmarks). WebP results are rendered in full.
   * @default false
   */
  sharedRenders?: boolean
}

/**
 * A scripted fault. `server.fault(route, ...)` queues one per request; `failEvery` applies one at
 * random; `faultOnPrompt` applies one to submits whose prompt contains a substring.
 */
export type Fault =
  /** Answer with this status instead of running the route. Nothing is created or counted. */
  | {
      kind: 'status'
      status: number
      /** `Retry-After` in seconds. 429 and 503 get `1` unless this is `null` or `retryAfterMs` is set. */
      retryAfter?: number | null
      /** `retry-after-ms` header (float milliseconds, as OpenAI sends). */
      retryAfterMs?: number
      /** An nginx/tengine HTML gateway page (`text/html`) instead of the protocol's JSON error. */
      html?: boolean
      /** Exact body: a string or bytes are sent as is, anything else as JSON. */
      body?: unknown
      /** Extra response headers. */
      headers?: Record<string, string>
    }
  /** Reset the TCP connection before the request body is read, or after the request was processed (a submit then WAS accepted and counted). */
  | { kind: 'reset'; when: 'before-body' | 'after-body' }
  /** Never answer until the client gives up. `before-body` (default): nothing is processed. `after-body`: processed (accepted and counted), then silence. */
  | { kind: 'stall'; when?: 'before-body' | 'after-body' }
  /** Process normally, then answer 200-ish with a body cut in half (not parseable JSON). */
  | { kind: 'malformed-json' }
  /** Submit accepted and counted; the task (toapis) ends `failed`, aa/openai answer with a server error after the latency. */
  | { kind: 'task-fails'; code?: string | number; message?: string }
  /** Submit accepted and counted; the toapis task stays `in_progress` forever; aa/openai never answer. */
  | { kind: 'never-finishes' }
  /** Process normally, send a `Content-Length` larger than the bytes sent, then close the connection. */
  | { kind: 'truncated' }
  /** Result bytes (download, or openai `b64_json`) are not an image. */
  | { kind: 'not-image' }
  /** Result image has another pixel size than requested. */
  | { kind: 'wrong-size' }
  /** Result URLs are already expired (download: answer as if expired). */
  | { kind: 'expired' }
  /** Process normally, then stream bytes forever (no Content-Length) until the client aborts. */
  | { kind: 'unbounded' }
  /** Content-policy refusal: toapis 422 `content_policy_violation`, openai 400 `moderation_blocked`, aa 400. Not counted. */
  | { kind: 'policy' }
  /**
   * aa answers before its task is done: accepted and counted, then 200 `{code: 0, data: {urls: [],
   * task_id, task_status}}` (providers.md, "Checked again from outside"). aa documents no way to
   * query the task later.
   */
  | {
      kind: 'aa-early'
      /** `data.task_status`. @default 'processing' */
      status?: string
      /** Send `code: "0"` instead of `0`. */
      codeAsString?: boolean
      /** Leave `data.task_id` out. */
      noTaskId?: boolean
    }
  /** aa answers a normal success with `code: "0"` (a string) instead of `0`. */
  | { kind: 'code-as-string' }
  /**
   * A toapis task answers its polls with other status words and/or URL placement: accepted and
   * counted; `statuses` replaces the words the poll reports for each phase (e.g. `completed:
   * 'succeeded'`, `running: 'weird'`); `urls: 'top-level'` leaves `result` out of the completed
   * answer so only the top-level `url` (the first image) remains.
   */
  | {
      kind: 'task-shape'
      statuses?: { queued?: string; running?: string; completed?: string; failed?: string }
      urls?: 'result' | 'top-level'
      /** End the task failed (with `statuses.failed`, default `failed`) instead of completed. */
      fails?: boolean
    }

/** The `kind` of every fault. */
export type FaultKind = Fault['kind']

/** One request as the server saw it. */
export interface RequestLogEntry {
  /** Route id, or `unknown` for a path the server does not serve (answered 404). */
  route: RouteId | 'unknown'
  method: string
  /** Path and query as sent. */
  path: string
  /** Status sent, or 0 when no response head was sent (reset, stall, client gone). */
  status: number
  /** Request headers, lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>
  startedAt: number
  /** When the response ended or the connection closed; undefined while in flight. */
  endedAt?: number
  /** Whether the full response was written. */
  completed: boolean
  /** The fault applied to this request, if any. */
  fault?: FaultKind
  /** Answered 429 by the route's `rateLimits` entry. */
  rateLimited?: true
}

/** Summary of a multipart body recorded in {@link RawBodyEntry}. */
export interface MultipartSummary {
  kind: 'multipart'
  /** Every part in order: name, filename (file parts), declared content type, byte size. */
  parts: { name: string; filename?: string; contentType?: string; size: number }[]
  /** Text parts by name (the last one wins). */
  fields: Record<string, string>
}

/**
 * A request body kept for assertions: the parsed JSON of toapis/aa/openai submits (strings
 * longer than 512 characters, such as data URLs, are shortened to their first 64 characters plus
 * a length note), or a {@link MultipartSummary} for uploads and multipart edits.
 */
export interface RawBodyEntry {
  route: RouteId
  at: number
  body: unknown
}

/** One accepted paid submission (a toapis task created, an aa/openai generation started). */
export interface Submission {
  route: 'toapis.submit' | 'aa.generate' | 'openai.edit'
  prompt: string
  n: number
  at: number
  /** The request body as recorded in `rawBodies` (JSON, or multipart fields plus part summaries). */
  body: Record<string, unknown>
  /** toapis task id. */
  taskId?: string
}

/** In-flight request counts, overall and per route. */
export interface InFlightStats {
  overall: number
  byRoute: Partial<Record<RouteId, number>>
}

/** Server-side view of one toapis task. */
export interface TaskInfo {
  id: string
  model: string
  prompt: string
  n: number
  status: string
  progress: number
  createdAt: number
  /** When it completes or fails (Infinity for `never-finishes`). */
  finishesAt: number
  width: number
  height: number
  format: 'png' | 'jpeg'
  urls: string[]
}

/** Matches a submission by prompt substring or by a predicate over the recorded body. */
export type SubmissionMatch = string | ((body: Record<string, unknown>, submission: Submission) => boolean)

/** A running fake provider server. */
export interface FakeProviderServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Base URLs to configure clients with: toapis `${url}/toapis/v1`, aa `${url}/aa`, openai `${url}/openai/v1`, files `${url}/files`. */
  readonly baseUrls: { toapis: string; aa: string; openai: string; files: string }
  readonly apiKey: string

  /** Queue faults for the next requests to `route`, one per request, in order. */
  fault(route: RouteId, ...faults: Fault[]): void
  /** Persistently apply `fault` to a `fraction` (0..1) of requests to `route`, chosen by the seeded PRNG. */
  failEvery(route: RouteId, fraction: number, fault: Fault): void
  /** Apply `fault` to every submit (toapis.submit, aa.generate, openai.edit) whose prompt contains `substring`. Only faults that act after the body is read. */
  faultOnPrompt(substring: string, fault: Fault): void
  /** Remove queued, random and prompt faults (of one route, or all). */
  clearFaults(route?: RouteId): void
  /** Queued faults not yet consumed (of one route, or all). */
  pendingFaults(route?: RouteId): number
  /** Change the latency for requests and tasks that start from now on. */
  setLatency(latency: Latency): void

  /** Accepted paid submissions, optionally only those matching. */
  submits(match?: SubmissionMatch): number
  /** Accepted paid submissions per prompt. */
  submitsByPrompt(): Map<string, number>
  /** Every accepted paid submission, in order. */
  readonly submissions: readonly Submission[]
  /** Every request, in arrival order. */
  readonly requests: readonly RequestLogEntry[]
  /** Recorded bodies of toapis.upload, toapis.submit, aa.generate and openai.edit. */
  readonly rawBodies: readonly RawBodyEntry[]
  /** Number of toapis.poll requests. */
  readonly polls: number
  /** Highest number of requests in flight at once, overall and per route. */
  readonly maxInFlight: InFlightStats
  /** Requests in flight now. */
  readonly inFlight: InFlightStats
  /** Highest number of toapis tasks that were running (submitted, not yet finished) at once. */
  readonly maxActiveTasks: number
  /** Requests received, of one route or all. */
  requestCount(route?: RouteId | 'unknown'): number
  /** A toapis task as the server sees it. */
  task(id: string): TaskInfo | undefined
  /** Every toapis task, in submit order (kept across `reset()`). */
  tasks(): TaskInfo[]

  /** Clear counters, logs, recorded bodies and all faults; re-seed the PRNG. Tasks and files stay. */
  reset(): void
  /** Stop listening and destroy every connection, including stalled and streaming ones. Idempotent. */
  close(): Promise<void>
}
