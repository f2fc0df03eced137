/**
 * Issue 13 with the team store: a designer builds a recipe with candidates and picks the third;
 * the pick is only in the lock (outputs out of git). A fresh CI clone with read access only
 * restores exactly the picked image by the lock's pin (0 submits, no record needed), and a
 * teammate with the team key picking another candidate gets it from the team store (the signed
 * record and every candidate of the take), free too.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, sha256File } from '../helpers.js'
import { readRecords } from '../providers/harness.js'
import { Team } from './team-fixture.js'

const team = new Team()
let designer = ''
let prefix = ''
let candidates: string[] = []

beforeAll(async () => {
  await team.start()
  prefix = 'picks'
  designer = await team.resources.project({
    provider: 'toapis',
    recipes: { hero: { prompt: 'team pick hero', refs: ['refs/a.png'], candidates: 3 } },
  })
  const built = await runCli(['build'], { cwd: designer, env: team.env(prefix) })
  if (built.code !== 0) throw new Error(built.stderr)
  candidates = (await readRecords(designer))[0]?.takes[0]?.images.map((image) => image.sha256) ?? []
  const picked = await runCli(['pick', 'hero', '1/3'], { cwd: designer, env: team.env(prefix) })
  if (picked.code !== 0) throw new Error(picked.stderr)
})
afterAll(() => team.release())

describe.sequential('picks travel through the lock and the team store', () => {
  it('a frozen CI clone with only the lock and read access restores the picked candidate, paying nothing', async () => {
    expect(candidates).toHaveLength(3)
    const paid = team.paid()
    expect(paid).toBeGreaterThan(0)
    const clone = await team.clone(designer, true)
    const ci = team.env(prefix, { CI: 'true', TOAPIS_API_KEY: undefined, IMAGES_EDIT_REMOTE_KEY: undefined })
    const result = await runCli(['build'], { cwd: clone, env: ci })
    expect(result.code, result.stderr).toBe(0)
    expect(await sha256File(join(clone, 'out/hero.png'))).toBe(candidates[2])
    expect(team.paid()).toBe(paid)
    expect(await readFile(join(clone, 'images.edit.lock'), 'utf8')).toBe(await readFile(join(designer, 'images.edit.lock'), 'utf8'))
  })

  it('a teammate with the team key gets every candidate of the take, and picking another is free', async () => {
    const paid = team.paid()
    const clone = await team.clone(designer, true)
    const env = team.env(prefix)
    const built = await runCli(['build'], { cwd: clone, env })
    expect(built.code, built.stderr).toBe(0)
    expect(await sha256File(join(clone, 'out/hero.png'))).toBe(candidates[2])
    const picked = await runCli(['pick', 'hero', '1/2'], { cwd: clone, env })
    expect(picked.code, picked.stderr).toBe(0)
    expect(await sha256File(join(clone, 'out/hero.png'))).toBe(candidates[1])
    expect(team.paid()).toBe(paid)
  })
})
