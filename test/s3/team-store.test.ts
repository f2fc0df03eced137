/**
 * Issue 12: two clones of a project share one bucket through the real CLI. s3rver on 127.0.0.1
 * is the bucket, the fake provider counts paid submits. A builds and pays; B, a fresh clone
 * without the outputs, builds for free with byte-identical outputs, from the lock's sha256 pins
 * or, with no lock at all, from A's signed records. A tampered record is ignored and paid for
 * again; a bucket that cannot be asked means nothing is paid and exit 3, unless --no-remote.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listFiles, readLockFile, runCli } from '../helpers.js'
import { S3_CREDENTIALS } from './s3-server.js'
import { closedPort, outputsOf, TEAM_KEY, Team } from './team-fixture.js'

const team = new Team()
beforeAll(() => team.start())
afterAll(() => team.release())

const paid = () => team.paid()
const teamEnv = (prefix: string, extra?: Record<string, string | undefined>) => team.env(prefix, extra)
const cloneOf = (source: string, withLock: boolean) => team.clone(source, withLock)
const teamProject = () => team.project()
let projectA = ''

describe.sequential('a team sharing one bucket', () => {
  let prefix = ''
  let outputsA: Record<string, string> = {}

  it('A builds: pays for its jobs once and pushes every result to the bucket', async () => {
    ;({ dir: projectA, prefix } = await teamProject())
    const before = paid()
    const result = await runCli(['build'], { cwd: projectA, env: teamEnv(prefix) })
    expect(result.code, result.stderr).toBe(0)
    expect(paid() - before).toBe(2)
    outputsA = await outputsOf(projectA)
    expect(Object.keys(outputsA)).toEqual(['card.png', 'hero-1.png', 'hero-2.png'])
    const keys = team.bucket.requests.filter((line) => line.startsWith(`PUT /${team.bucket.bucket}/${prefix}/`))
    expect(keys.filter((line) => line.includes('/records/'))).toHaveLength(2)
    expect(keys.filter((line) => line.includes('/objects/'))).toHaveLength(3)
  })

  it('a no-op build of A with the remote configured makes no request to the bucket', async () => {
    const requests = team.bucket.requests.length
    const result = await runCli(['build'], { cwd: projectA, env: teamEnv(prefix) })
    expect(result.code, result.stderr).toBe(0)
    expect(team.bucket.requests.length).toBe(requests)
  })

  it('B, a fresh clone with the lock and no outputs, in frozen CI with no provider key: 0 submits, byte-identical outputs', async () => {
    const cloneB = await cloneOf(projectA, true)
    const before = paid()
    const env = teamEnv(prefix, { CI: 'true', TOAPIS_API_KEY: undefined, IMAGES_EDIT_REMOTE_KEY: undefined })
    const result = await runCli(['build'], { cwd: cloneB, env })
    expect(result.code, result.stderr).toBe(0)
    expect(paid()).toBe(before)
    expect(await outputsOf(cloneB)).toEqual(outputsA)
  })

  it("C, a clone without lock or outputs (another branch), finds A's signed records: 0 submits, byte-identical outputs", async () => {
    const cloneC = await cloneOf(projectA, false)
    const before = paid()
    // plan says what build would do: nothing to pay, the bucket has it.
    const plan = await runCli(['plan'], { cwd: cloneC, env: teamEnv(prefix) })
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/^0 new images would be generated, 0 paid$/m)
    expect((await runCli(['plan', '--no-remote'], { cwd: await cloneOf(projectA, false), env: teamEnv(prefix) })).stdout).toMatch(
      /^3 new images would be generated, 3 paid$/m,
    )
    const result = await runCli(['build'], { cwd: cloneC, env: teamEnv(prefix) })
    expect(result.code, result.stderr).toBe(0)
    expect(paid()).toBe(before)
    expect(await outputsOf(cloneC)).toEqual(outputsA)
  })

  it('the remote configured in the manifest instead of the environment works the same', async () => {
    const clone = await cloneOf(projectA, false)
    const manifest = JSON.parse(await readFile(join(clone, 'images.edit.yaml'), 'utf8'))
    manifest.remote = { url: `s3://${team.bucket.bucket}/${prefix}`, endpoint: team.bucket.endpoint }
    await writeFile(join(clone, 'images.edit.yaml'), JSON.stringify(manifest, null, 2))
    const before = paid()
    const env = teamEnv(prefix, { IMAGES_EDIT_REMOTE: undefined, IMAGES_EDIT_REMOTE_ENDPOINT: undefined })
    const result = await runCli(['build'], { cwd: clone, env })
    expect(result.code, result.stderr).toBe(0)
    expect(paid()).toBe(before)
    expect(await outputsOf(clone)).toEqual(outputsA)
  })

  it('a record tampered with in the bucket is ignored with a warning, and that job is paid for here', async () => {
    const cloneD = await cloneOf(projectA, false)
    const key = (await readLockFile(projectA)).jobs.card?.key as string
    const recordUrl = `${team.bucket.endpoint}/${team.bucket.bucket}/${prefix}/records/${key}.json`
    const { AwsClient } = await import('aws4fetch')
    const raw = new AwsClient({ ...S3_CREDENTIALS, region: 'us-east-1', service: 's3', retries: 0 })
    const record = await (await raw.fetch(recordUrl)).json()
    record.takes[0].runs[0].model = 'swapped by someone with write access'
    expect((await raw.fetch(recordUrl, { method: 'PUT', body: JSON.stringify(record) })).status).toBe(200)

    const before = paid()
    const result = await runCli(['build'], { cwd: cloneD, env: teamEnv(prefix) })
    expect(result.code, result.stderr).toBe(0)
    expect(`${result.stdout}${result.stderr}`).toMatch(
      /record of job key [0-9a-f]{12} in s3:\/\/team\/project-\d+ is ignored: its signature does not match the team key/,
    )
    expect(paid() - before).toBe(1)
    expect(`${result.stdout}${result.stderr}`).not.toContain(TEAM_KEY)
  })
})

describe.sequential('a bucket that cannot be asked', () => {
  it('nothing is paid and the build exits 3 saying why; --no-remote generates here', async () => {
    const { dir, prefix } = await teamProject()
    const before = paid()
    // A port nothing listens on.
    const env = teamEnv(prefix, { IMAGES_EDIT_REMOTE_ENDPOINT: `http://127.0.0.1:${await closedPort()}` })
    const refused = await runCli(['build'], { cwd: dir, env })
    expect(refused.code, refused.stderr).toBe(3)
    expect(refused.stderr).toMatch(/could not ask the team store s3:\/\/team\/project-\d+ whether 2 jobs already exist/)
    expect(refused.stderr).toMatch(/--no-remote/)
    expect(refused.stderr).not.toMatch(/^\s+at\s/m)
    expect(refused.stderr).not.toContain(S3_CREDENTIALS.secretAccessKey)
    expect(paid()).toBe(before)
    expect(await listFiles(join(dir, 'out')).catch(() => [])).toEqual([])

    const local = await runCli(['build', '--no-remote'], { cwd: dir, env })
    expect(local.code, local.stderr).toBe(0)
    expect(paid() - before).toBe(2)
  })

  it('a bucket answering 503 SlowDown on every call: retried, then exit 3 with nothing paid', async () => {
    const { dir, prefix } = await teamProject()
    const before = paid()
    team.bucket.inject(() => ({ status: 503, code: 'SlowDown' }))
    try {
      const refused = await runCli(['build'], { cwd: dir, env: teamEnv(prefix) })
      expect(refused.code, refused.stderr).toBe(3)
      expect(refused.stderr).toMatch(/failed 5 times; last: HTTP 503/)
    } finally {
      team.bucket.inject(undefined)
    }
    expect(paid()).toBe(before)
  })

  it('results that could not be pushed stay queued, and the next build pushes them', async () => {
    const { dir, prefix } = await teamProject()
    team.bucket.inject((method) => (method === 'PUT' ? { status: 403, code: 'AccessDenied' } : 'pass'))
    let first: Awaited<ReturnType<typeof runCli>>
    try {
      first = await runCli(['build'], { cwd: dir, env: teamEnv(prefix) })
    } finally {
      team.bucket.inject(undefined)
    }
    expect(first.code, first.stderr).toBe(0)
    expect(`${first.stdout}${first.stderr}`).toMatch(/2 results are not yet in the team store .* they stay queued for the next build or `images-edit push`/)
    expect(await listFiles(join(dir, '.images-edit/push-queue'))).toHaveLength(2)

    const down = await runCli(['push'], { cwd: dir, env: teamEnv(prefix, { IMAGES_EDIT_REMOTE_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }) })
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/2 results could not be pushed to s3:\/\/team\/project-\d+ .*they stay queued: run `images-edit push` again/)
    expect(await listFiles(join(dir, '.images-edit/push-queue'))).toHaveLength(2)

    const pushed = await runCli(['push'], { cwd: dir, env: teamEnv(prefix) })
    expect(pushed.code, pushed.stderr).toBe(0)
    expect(pushed.stdout).toMatch(/pushed 2 results to s3:\/\/team\/project-\d+/)
    expect(await listFiles(join(dir, '.images-edit/push-queue')).catch(() => [])).toEqual([])
    const clone = await cloneOf(dir, false)
    const before = paid()
    expect((await runCli(['build'], { cwd: clone, env: teamEnv(prefix) })).code).toBe(0)
    expect(paid()).toBe(before)
  })

  it('push --all uploads what was built with --no-remote; a clone then pays nothing', async () => {
    const { dir, prefix } = await teamProject()
    const before = paid()
    expect((await runCli(['build', '--no-remote'], { cwd: dir, env: teamEnv(prefix) })).code).toBe(0)
    expect(paid() - before).toBe(2)
    const nothing = await runCli(['push'], { cwd: dir, env: teamEnv(prefix) })
    expect(nothing.stdout).toMatch(/nothing to push/)
    const all = await runCli(['push', '--all'], { cwd: dir, env: teamEnv(prefix) })
    expect(all.code, all.stderr).toBe(0)
    expect(all.stdout).toMatch(/pushed 2 results/)
    const clone = await cloneOf(dir, false)
    expect((await runCli(['build'], { cwd: clone, env: teamEnv(prefix) })).code).toBe(0)
    expect(paid() - before).toBe(2)
  })

  it('push without a remote configured says how to configure one (exit 2)', async () => {
    const { dir } = await teamProject()
    const result = await runCli(['push'], { cwd: dir, env: { IMAGES_EDIT_REMOTE: undefined } })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/no team store is configured: set remote.url in images.edit.yaml, or IMAGES_EDIT_REMOTE/)
  })

  it('a bucket name that does not exist is not "nothing stored there": exit 3, nothing paid', async () => {
    const { dir, prefix } = await teamProject()
    const before = paid()
    const result = await runCli(['build'], { cwd: dir, env: teamEnv(prefix, { IMAGES_EDIT_REMOTE: `s3://no-such-bucket/${prefix}` }) })
    expect(result.code, result.stderr).toBe(3)
    expect(result.stderr).toMatch(/HTTP 404 \(no such bucket/)
    expect(paid()).toBe(before)
  })

  it('free jobs (--provider local) are neither looked up nor refused when the bucket is down', async () => {
    const { dir, prefix } = await teamProject()
    const result = await runCli(['build', '--provider', 'local'], {
      cwd: dir,
      env: teamEnv(prefix, { IMAGES_EDIT_REMOTE_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }),
    })
    expect(result.code, result.stderr).toBe(0)
    expect(await listFiles(join(dir, 'out'))).toHaveLength(3)
  })

  it('without the team key: images are pushed, records are not (with a warning), and nothing stays queued', async () => {
    const { dir, prefix } = await teamProject()
    const result = await runCli(['build'], { cwd: dir, env: teamEnv(prefix, { IMAGES_EDIT_REMOTE_KEY: undefined }) })
    expect(result.code, result.stderr).toBe(0)
    expect(`${result.stdout}${result.stderr}`).toMatch(/records are not pushed to s3:\/\/team\/project-\d+ without the team key/)
    expect(await listFiles(join(dir, '.images-edit/push-queue')).catch(() => [])).toEqual([])
    const puts = team.bucket.requests.filter((line) => line.startsWith(`PUT /${team.bucket.bucket}/${prefix}/`))
    expect(puts.filter((line) => line.includes('/objects/'))).toHaveLength(3)
    expect(puts.filter((line) => line.includes('/records/'))).toHaveLength(0)
    // A no-op build afterwards asks the bucket nothing.
    const requests = team.bucket.requests.length
    expect((await runCli(['build'], { cwd: dir, env: teamEnv(prefix, { IMAGES_EDIT_REMOTE_KEY: undefined }) })).code).toBe(0)
    expect(team.bucket.requests.length).toBe(requests)
  })

  it('an endpoint with credentials in it is refused without printing them', async () => {
    const { dir, prefix } = await teamProject()
    const result = await runCli(['build'], { cwd: dir, env: teamEnv(prefix, { IMAGES_EDIT_REMOTE_ENDPOINT: 'http://user:hunter2@127.0.0.1:9' }) })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/must be an http\(s\) URL without credentials/)
    expect(result.stderr).not.toContain('hunter2')
  })
})
