import { type Project, parsePick } from '@images-edit/core'
import type { Values } from '../args.js'
import { EXIT } from '../exit-codes.js'
import type { Output } from '../reporters.js'
import { helpHint, UsageError } from '../usage-error.js'

/** `images-edit pick <job> <take>[/<image>…]`: the outputs become those images, free; the lock records it. */
export async function pick(project: Project, positionals: string[], values: Values, output: Output): Promise<number> {
  const [job, spec, ...extra] = positionals
  if (!job || !spec || extra.length > 0) throw new UsageError('pick needs a job and a take: images-edit pick <job> <take>[/<image>]', helpHint('pick'))
  const request = { job, ...parsePick(spec) }
  const result = await project.pick(request, { forceLock: Boolean(values['force-lock']) })
  const written = result.restored.length > 0
  const failed = result.failed[0]
  if (values.json) {
    output.out.write(
      `${JSON.stringify({ job, take: request.take, images: request.images, written, lockWritten: result.lockWritten, failed: result.failed })}\n`,
    )
    return failed ? EXIT.failed : EXIT.ok
  }
  if (failed) {
    output.err.write(`${output.colors.red('error:')} ${failed.id}: ${failed.error.message}\n`)
    return EXIT.failed
  }
  const what = `take ${request.take}${request.images ? `, image${request.images.length === 1 ? '' : 's'} ${request.images.join(', ')}` : ''}`
  output.out.write(written || result.lockWritten ? `${job}: now ${what} (free; the lock records the pick)\n` : `${job}: already ${what}; nothing changed\n`)
  return EXIT.ok
}
