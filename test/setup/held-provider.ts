// The local provider with its generations held until the test releases them: a build stays
// "in flight" while the test does something beside it (a pick, an edit of an output).
import { createLocalProvider, createProviderRegistry, type EditRequest, type ImageEditProvider, type ProviderRegistry } from '@images-edit/core'

export interface HeldLocal {
  providers: ProviderRegistry
  /** Resolves once a held generation has started. */
  started: Promise<void>
  /** Lets every held generation (and later ones) go on. */
  release: () => void
}

/** `local`, holding each generation `holds` says to (every one by default). */
export function heldLocal(holds: (request: EditRequest) => boolean = () => true): HeldLocal {
  const local = createLocalProvider()
  let release: () => void = () => {}
  let begin: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const started = new Promise<void>((resolve) => {
    begin = resolve
  })
  const provider: ImageEditProvider = {
    ...local,
    generate: async (request, prepared, context) => {
      if (holds(request)) {
        begin()
        await gate
      }
      return local.generate?.(request, prepared, context) as ReturnType<NonNullable<ImageEditProvider['generate']>>
    },
  }
  return { providers: createProviderRegistry({ overrides: { local: provider } }), started, release }
}
