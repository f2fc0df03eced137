/**
 * Issue 12, outputs out of git: a clone with only the lock restores every output it names with
 * `images-edit pull` (read access to the bucket, no API key, nothing generated), and `status` says
 * which outputs are local, only in the team store, or missing — without copying anything.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AwsClient } from 'aws4fetch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listFiles, readLockFile, runCli, startCli } from '../helpers.js'
import { S3_CREDENTIALS } from './s3-server.js'
import { closedPort, outputsOf, Team } from './team-fixture.js'

const team = new Team()
let projectA = ''
let prefix = ''
let outputsA: Record<string, string> = {}

beforeAll(async () => {
  await team.start()
  ;({ dir: projectA, prefix } = await team.project())
  const built = await runCli(['build'], { cwd: projectA, env: team.env(prefix) })
  if (built.code !== 0) throw new Error(built.stderr)
  outputsA = await outputsOf(projectA)
})
afterAll(() => team.release())

/** CI with read access to the bucket only: no provider key, no team key. */
const readerEnv = () => team.env(prefix, { CI: 'true', TOAPIS_API_KEY: undefined, IMAGES_EDIT_REMOTE_KEY: undefined })
const requestsDuring = async <T>(work: () => Promise<T>): Promise<{ value: T; requests: string[] }> => {
  const before = team.bucket.requests.length
  const value = await work()
  return { value, requests: team.bucket.requests.slice(before) }
}

describe.sequential('pull and status with the outputs out of git', () => {
  it('status on a clone with only the lock: every output is only in the team store, and nothing is copied', async () => {
    const clone = await team.clone(projectA, true)
    const { value: result } = await requestsDuring(() => runCli(['status', '--json'], { cwd: clone, env: readerEnv() }))
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.remote.location).toBe(`s3://team/${prefix}`)
    expect(Object.fromEntries(report.jobs.map((job: { id: string; where: string[] }) => [job.id, job.where]))).toEqual({
      hero: ['remote-only', 'remote-only'],
      card: ['remote-only'],
    })
    expect(await listFiles(join(clone, '.images-edit/objects')).catch(() => [])).toEqual([])

    const plain = await runCli(['status'], { cwd: clone, env: readerEnv() })
    expect(plain.stdout).toMatch(/^hero\s+.*\(2 remote-only\)$/m)
    expect(plain.stdout).toMatch(/^outputs: 0 local, 3 only in the team store \(images-edit pull restores them\), 0 missing$/m)

    const { value: offline, requests } = await requestsDuring(() => runCli(['status', '--no-remote'], { cwd: clone, env: readerEnv() }))
    expect(offline.stdout).toMatch(/^outputs: 0 local, 3 missing \(a build generates them\)$/m)
    expect(requests).toEqual([])
  })

  it('pull restores every output the lock names, byte-identical, with no API key, 0 submits and no upload', async () => {
    const clone = await team.clone(projectA, true)
    const paid = team.paid()
    const { value: result, requests } = await requestsDuring(() => runCli(['pull'], { cwd: clone, env: readerEnv() }))
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`^pulled from s3://team/${prefix}: 2 jobs restored, 0 up to date`, 'm'))
    expect(await outputsOf(clone)).toEqual(outputsA)
    expect(team.paid()).toBe(paid)
    expect(requests.filter((line) => !line.startsWith('GET ') && !line.startsWith('HEAD '))).toEqual([])
    // The lock's pins were enough: no record was read.
    expect(requests.filter((line) => line.includes('/records/'))).toEqual([])

    const { value: status, requests: asked } = await requestsDuring(() => runCli(['status', '--json'], { cwd: clone, env: readerEnv() }))
    const jobs = JSON.parse(status.stdout).jobs as { id: string; state: string; where: string[] }[]
    expect(Object.fromEntries(jobs.map((job) => [job.id, [job.state, ...job.where]]))).toEqual({
      hero: ['up-to-date', 'local', 'local'],
      card: ['up-to-date', 'local'],
    })
    // Everything is here: status asks the bucket nothing.
    expect(asked).toEqual([])
    const again = await runCli(['pull'], { cwd: clone, env: readerEnv() })
    expect(again.stdout).toMatch(/0 jobs restored, 2 up to date/)

    // The pull stored the objects the lock pins (no records): with the outputs deleted, a frozen
    // build without the team store restores them from the local store alone.
    await rm(join(clone, 'out'), { recursive: true })
    const offline = await runCli(['build', '--no-remote'], { cwd: clone, env: readerEnv() })
    expect(offline.code, offline.stderr).toBe(0)
    expect(offline.stdout).toMatch(/0 generated \(0 new images\), 0 up to date, 2 restored/)
    expect(await outputsOf(clone)).toEqual(outputsA)
    expect(team.paid()).toBe(paid)
  })

  it('watch in CI (frozen) restores what the team store has instead of leaving placeholders, with no API key', async () => {
    const clone = await team.clone(projectA, true)
    const paid = team.paid()
    const cli = startCli(['watch', '--json'], { cwd: clone, env: readerEnv() })
    try {
      await cli.waitForStdout(/"type":"build:done"/, 30_000)
    } finally {
      cli.kill('SIGINT')
      await cli.exited
    }
    expect(await outputsOf(clone)).toEqual(outputsA)
    expect(team.paid()).toBe(paid)
  })

  it('an object of the lock that the bucket no longer has: the rest is pulled, that job is named, exit 3, nothing paid', async () => {
    const clone = await team.clone(projectA, true)
    const card = (await readLockFile(projectA)).jobs.card?.outputs[0]?.sha256 as string
    const raw = new AwsClient({ ...S3_CREDENTIALS, region: 'us-east-1', service: 's3', retries: 0 })
    const objectUrl = `${team.bucket.endpoint}/${team.bucket.bucket}/${prefix}/objects/${card.slice(0, 2)}/${card.slice(2)}`
    const saved = Buffer.from(await (await raw.fetch(objectUrl)).arrayBuffer())
    expect((await raw.fetch(objectUrl, { method: 'DELETE' })).status).toBe(204)
    try {
      const status = JSON.parse((await runCli(['status', '--json'], { cwd: clone, env: readerEnv() })).stdout)
      expect(status.jobs.find((job: { id: string }) => job.id === 'card').where).toEqual(['missing'])

      const paid = team.paid()
      const result = await runCli(['pull'], { cwd: clone, env: team.env(prefix) })
      expect(result.code, result.stderr).toBe(3)
      expect(result.stderr).toMatch(
        /1 job of the lock is in neither the local store nor s3:\/\/team\/project-\d+; nothing was generated:\n {2}card: 1 image missing/,
      )
      expect(Object.keys(await outputsOf(clone))).toEqual(['hero-1.png', 'hero-2.png'])
      expect(team.paid()).toBe(paid)
    } finally {
      expect((await raw.fetch(objectUrl, { method: 'PUT', body: saved })).status).toBe(200)
    }
  })

  it('recipes the lock does not name yet are listed, not generated (a free local one too); status calls them missing', async () => {
    const clone = await team.clone(projectA, true)
    const manifest = JSON.parse(await readFile(join(clone, 'images.edit.yaml'), 'utf8'))
    manifest.recipes.banner = { prompt: 'a banner nobody built yet', refs: ['refs/a.png'] }
    manifest.recipes.badge = { prompt: 'a placeholder badge', refs: ['refs/b.jpg'], provider: 'local' }
    await writeFile(join(clone, 'images.edit.yaml'), JSON.stringify(manifest, null, 2))
    const status = JSON.parse((await runCli(['status', '--json'], { cwd: clone, env: readerEnv() })).stdout)
    const where = (id: string) => status.jobs.find((job: { id: string }) => job.id === id).where
    expect([where('banner'), where('badge')]).toEqual([['missing'], ['missing']])

    const paid = team.paid()
    const result = await runCli(['pull'], { cwd: clone, env: team.env(prefix) })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^2 jobs still to be made by a build \(nothing was generated\):$/m)
    expect(result.stdout).toMatch(/^ {2}banner: 1 new image \(.+\)$/m)
    expect(result.stdout).toMatch(/^ {2}badge: 1 image from the local provider, free$/m)
    expect(Object.keys(await outputsOf(clone))).toEqual(['card.png', 'hero-1.png', 'hero-2.png'])
    expect(team.paid()).toBe(paid)
  })

  it('a bucket that cannot be asked: status says unknown (exit 0), pull exits 3; no team store configured: exit 2', async () => {
    const clone = await team.clone(projectA, true)
    const down = team.env(prefix, { CI: 'true', IMAGES_EDIT_REMOTE_ENDPOINT: `http://127.0.0.1:${await closedPort()}` })
    const status = await runCli(['status'], { cwd: clone, env: down })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^outputs: 0 local, 0 only in the team store, 0 missing, 3 unknown: the team store could not be asked \(.+\)$/m)

    const pulled = await runCli(['pull'], { cwd: clone, env: down })
    expect(pulled.code, pulled.stderr).toBe(3)
    expect(pulled.stderr).toMatch(/could not ask the team store s3:\/\/team\/project-\d+ whether 2 jobs already exist/)
    expect(pulled.stderr).not.toMatch(/^\s+at\s/m)

    const none = await runCli(['pull'], { cwd: clone, env: { IMAGES_EDIT_REMOTE: undefined } })
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/no team store is configured/)
  })
})
