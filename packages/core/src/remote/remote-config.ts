// Where the team store is: `remote:` of the manifest, overridden by IMAGES_EDIT_REMOTE and its siblings; credentials only from the AWS variables.
import { ImagesEditError } from '../errors.js'
import type { RemoteSettings } from '../manifest/types.js'
import type { S3Credentials, S3Location } from './s3-client.js'

/** A configured remote: the bucket, the credentials to reach it and the team key records are signed with. */
export interface RemoteConfig {
  location: S3Location
  credentials: S3Credentials
  /** IMAGES_EDIT_REMOTE_KEY; without it records are neither trusted nor written. */
  signingKey?: string
}

type Env = Readonly<Record<string, string | undefined>>

/** The team store's URL as configured (the environment first), or undefined when there is none or it is turned off. */
export function remoteUrl(settings: RemoteSettings | undefined, env: Env): string | undefined {
  const url = env.IMAGES_EDIT_REMOTE?.trim() || settings?.url
  return !url || url === 'off' || url === 'none' ? undefined : url
}

/**
 * The remote of a project, or undefined when none is configured (or IMAGES_EDIT_REMOTE is `off`).
 * The environment wins over the manifest, so CI can point a build at a bucket, or turn it off,
 * without touching the file. Throws a user-facing error naming the variable when a setting is
 * malformed or the credentials are missing; never prints a secret.
 */
export function resolveRemoteConfig(settings: RemoteSettings | undefined, env: Env): RemoteConfig | undefined {
  const url = remoteUrl(settings, env)
  if (!url) return undefined
  const source = env.IMAGES_EDIT_REMOTE?.trim() ? 'IMAGES_EDIT_REMOTE' : 'remote.url'
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url)
  if (!match)
    throw new ImagesEditError('USAGE', `${source} must look like s3://bucket/prefix, with a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens`)
  const endpoint = env.IMAGES_EDIT_REMOTE_ENDPOINT?.trim() || settings?.endpoint
  // No credentials in the URL: they would be printed with it (messages name the endpoint).
  if (endpoint !== undefined && !/^https?:\/\/[^/@\s]+(\/[^@\s]*)?$/.test(endpoint)) {
    throw new ImagesEditError(
      'USAGE',
      `the remote endpoint (${env.IMAGES_EDIT_REMOTE_ENDPOINT?.trim() ? 'IMAGES_EDIT_REMOTE_ENDPOINT' : 'remote.endpoint'}) must be an http(s) URL without credentials, like https://<account>.r2.cloudflarestorage.com; credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
    )
  }
  const pathStyle = env.IMAGES_EDIT_REMOTE_PATH_STYLE?.trim()
  const forcePathStyle = pathStyle ? pathStyle === 'true' || pathStyle === '1' : (settings?.forcePathStyle ?? endpoint !== undefined)
  const region = env.IMAGES_EDIT_REMOTE_REGION?.trim() || settings?.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1'
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim()
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim()
  if (!accessKeyId || !secretAccessKey) {
    throw new ImagesEditError(
      'USAGE',
      `the team store ${url} needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or build without it (--no-remote, or IMAGES_EDIT_REMOTE=off)`,
    )
  }
  const sessionToken = env.AWS_SESSION_TOKEN?.trim()
  const signingKey = env.IMAGES_EDIT_REMOTE_KEY?.trim()
  return {
    location: { bucket: match[1] as string, prefix: (match[2] ?? '').replace(/^\/+|\/+$/g, ''), ...(endpoint ? { endpoint } : {}), region, forcePathStyle },
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    ...(signingKey ? { signingKey } : {}),
  }
}
