import type { LockedInput, LockedJob } from '../lock/lock-file.js'
import type { Job, JobInput } from '../manifest/job.js'
import type { JobRecord } from '../store/store.js'

/**
 * Why a job is not what the lock records, in words a user acts on: which ref changed, which
 * parameter went from what to what, or that images are missing.
 */
export function explainChange(job: Job, locked: LockedJob | undefined, state: { served: number; newImages: number; record: JobRecord | undefined }): string[] {
  if (!locked) {
    if (state.newImages === 0) return ['not in the lock yet; results found in the store (no cost)']
    return [job.eachFile ? `new file ${job.eachFile} matched by \`each\`` : 'new recipe (not in the lock)']
  }
  const reasons: string[] = []
  if (locked.key !== job.key) {
    if (locked.provider !== job.provider) reasons.push(`provider changed from ${locked.provider} to ${job.provider}`)
    if (locked.model !== job.model) reasons.push(`model changed from ${locked.model} to ${job.model}`)
    if (locked.prompt !== job.prompt) reasons.push(`prompt changed: ${describeTextChange(locked.prompt, job.prompt)}`)
    const before = locked.params as unknown as Record<string, unknown>
    const after = job.params as unknown as Record<string, unknown>
    for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      if (before[name] !== after[name]) reasons.push(`${name} changed from ${show(before[name])} to ${show(after[name])}`)
    }
    if (String(locked.seed ?? '') !== String(job.seed ?? '') || typeof locked.seed !== typeof job.seed) {
      reasons.push(`seed changed from ${show(locked.seed)} to ${show(job.seed)}`)
    }
    reasons.push(...compareInputs('ref', locked.refs, job.refs))
    reasons.push(...compareInputs('mask', locked.mask ? [locked.mask] : [], job.mask ? [job.mask] : []))
    if (reasons.length === 0) reasons.push('the cache key changed (key format or hashing changed)')
    if (state.newImages === 0) reasons.push('results for the new inputs are already in the store (no cost)')
    return reasons
  }
  const missing = job.n - state.served
  const { newImages } = state
  const images = (count: number) => `${count} new image${count === 1 ? '' : 's'}`
  if (missing > 0 && job.n > locked.outputs.length && state.served >= locked.outputs.length) {
    reasons.push(`n grew from ${locked.outputs.length} to ${job.n}: ${images(newImages)}`)
  } else if (missing > 0) {
    reasons.push(`${missing} image${missing === 1 ? '' : 's'} of the locked result ${missing === 1 ? 'is' : 'are'} neither in the store nor on disk`)
  } else if (newImages > 0) {
    reasons.push(`candidates grew from ${locked.candidates ?? locked.outputs.length} to ${job.candidates}: ${images(newImages)}`)
  }
  return reasons
}

function compareInputs(role: 'ref' | 'mask', before: readonly LockedInput[], after: readonly JobInput[]): string[] {
  const reasons: string[] = []
  const name = (input: LockedInput | undefined) => input?.path ?? input?.url ?? '(none)'
  const hashOf = (input: JobInput) => (input.input.kind === 'file' ? input.input.sha256 : undefined)
  const count = Math.max(before.length, after.length)
  if (before.length !== after.length && role === 'ref') reasons.push(`refs went from ${before.length} to ${after.length} images`)
  for (let index = 0; index < count; index++) {
    const old = before[index]
    const now = after[index]
    const label = role === 'ref' ? `ref ${index + 1}` : 'mask'
    if (!old && now) {
      reasons.push(`${label} added: ${now.path ?? now.source}`)
      continue
    }
    if (old && !now) {
      reasons.push(`${label} removed: ${name(old)}`)
      continue
    }
    if (!old || !now) continue
    const nowSha = hashOf(now)
    const nowName = now.path ?? now.source
    if (old.sha256 !== nowSha || old.url !== (now.input.kind === 'url' ? now.input.url : undefined)) {
      if (name(old) === nowName) {
        reasons.push(`${label} ${nowName} changed (${short(old.sha256)} → ${short(nowSha)})`)
      } else {
        reasons.push(`${label} changed from ${name(old)} to ${nowName}`)
      }
    }
  }
  return reasons
}

function describeTextChange(before: string, after: string): string {
  const limit = 60
  if (before.length <= limit && after.length <= limit) return `${JSON.stringify(before)} → ${JSON.stringify(after)}`
  let start = 0
  while (start < before.length && start < after.length && before[start] === after[start]) start++
  const from = Math.max(0, start - 15)
  const cut = (text: string) => `${from > 0 ? '…' : ''}${text.slice(from, from + limit)}${text.length > from + limit ? '…' : ''}`
  return `${JSON.stringify(cut(before))} → ${JSON.stringify(cut(after))}`
}

function show(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value)
}

function short(hash: string | undefined): string {
  return hash ? hash.slice(0, 8) : 'url'
}
