/**
 * Issue 12, day two of a team with the outputs out of git: B already built the project once (so
 * images-edit remembers the lock it wrote), then pulls A's new lock from git, naming images only
 * the team store has. That lock is a teammate's, not a hand edit: B's build restores A's images
 * with 0 submits. A lock naming images neither B nor the team store has is still refused.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers.js'
import { outputsOf, Team } from './team-fixture.js'

const team = new Team()
let a = ''
let prefix = ''

beforeAll(async () => {
  await team.start()
  ;({ dir: a, prefix } = await team.project())
  const built = await runCli(['build'], { cwd: a, env: team.env(prefix) })
  if (built.code !== 0) throw new Error(built.stderr)
})
afterAll(() => team.release())

/** A's manifest and lock as B gets them from git (B's outputs and store stay B's). */
async function gitPull(from: string, to: string): Promise<void> {
  for (const entry of ['images.edit.yaml', 'images.edit.lock']) await cp(join(from, entry), join(to, entry))
}

describe.sequential("a teammate's lock from git", () => {
  it('names images only the team store has: restored for free, not taken for a hand edit', async () => {
    const b = await team.clone(a, true)
    const first = await runCli(['build'], { cwd: b, env: team.env(prefix) })
    expect(first.code, first.stderr).toBe(0)

    // A changes a prompt, pays for it, pushes; B pulls the manifest and the lock.
    const manifest = await readFile(join(a, 'images.edit.yaml'), 'utf8')
    await writeFile(join(a, 'images.edit.yaml'), manifest.replace('team card', 'team card, evening light'))
    const changed = await runCli(['build'], { cwd: a, env: team.env(prefix) })
    expect(changed.code, changed.stderr).toBe(0)
    const paid = team.paid()
    await gitPull(a, b)
    const second = await runCli(['build'], { cwd: b, env: team.env(prefix) })
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(second.stderr).not.toMatch(/edited by hand/)
    expect(team.paid()).toBe(paid)
    expect(await outputsOf(b)).toEqual(await outputsOf(a))
  })

  it('names images nobody has (a fabricated sha256): still a hand edit, refused before anything is paid', async () => {
    const b = await team.clone(a, true)
    expect((await runCli(['build'], { cwd: b, env: team.env(prefix) })).code).toBe(0)
    const lock = await readFile(join(a, 'images.edit.lock'), 'utf8')
    const card = /( {2}card:\n(?:.*\n)*? {4}outputs:\n {6}- path: .*\n {8}sha256: )([0-9a-f]{64})/.exec(lock)
    expect(card).not.toBeNull()
    await writeFile(join(b, 'images.edit.lock'), lock.replace(card?.[0] ?? '', `${card?.[1]}${'f'.repeat(64)}`))
    const paid = team.paid()
    const refused = await runCli(['build'], { cwd: b, env: team.env(prefix) })
    expect(refused.code, refused.stdout + refused.stderr).toBe(2)
    expect(refused.stderr).toMatch(/edited by hand/)
    expect(team.paid()).toBe(paid)
  })
})
