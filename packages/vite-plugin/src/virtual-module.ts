import type { ImagesEditImage } from './types.js'

/** What users import: `images-edit:<recipe or job id>`. */
export const IMPORT_PREFIX = 'images-edit:'
/** Rollup's convention for virtual modules: a leading NUL keeps other plugins off them. */
export const RESOLVED_PREFIX = '\0images-edit:'

/** The recipe or job id of a resolved virtual id, or undefined for any other module. */
export function idOfModule(resolvedId: string): string | undefined {
  return resolvedId.startsWith(RESOLVED_PREFIX) ? resolvedId.slice(RESOLVED_PREFIX.length) : undefined
}

/** One image as the generated module spells it: `src` is a JS expression (a string literal, or a file-URL reference in builds). */
export interface ModuleImage extends Omit<ImagesEditImage, 'src'> {
  srcExpression: string
}

/**
 * The module's code. In dev it accepts its own updates: the HMR runtime below swaps `src` of
 * every `<img>` showing an old URL, so a new image lands without a page reload in any framework
 * (or none), and the imported object is updated in place for code that reads it later.
 */
export function renderModule(recipe: string, images: readonly ModuleImage[], options: { hot: boolean; error?: string }): string {
  const lines = images.map(
    (image) =>
      `  { src: ${image.srcExpression}, width: ${image.width}, height: ${image.height}, format: ${JSON.stringify(image.format)}, job: ${JSON.stringify(image.job)}, placeholder: ${image.placeholder} },`,
  )
  const code = [
    'const images = [',
    ...lines,
    ']',
    'const first = images[0]',
    'const image = {',
    `  recipe: ${JSON.stringify(recipe)},`,
    '  src: first.src,',
    '  width: first.width,',
    '  height: first.height,',
    '  format: first.format,',
    '  placeholder: images.some((item) => item.placeholder),',
    '  images,',
    ...(options.error ? [`  error: ${JSON.stringify(options.error)},`] : []),
    '}',
    'export default image',
  ]
  if (options.hot) code.push(HOT_RUNTIME)
  return `${code.join('\n')}\n`
}

// Runs in the browser. `hot.data` outlives module instances, so `live` stays the object the app
// imported first, and every later update is applied to it.
const HOT_RUNTIME = `
if (import.meta.hot) {
  import.meta.hot.data.live ??= image
  import.meta.hot.accept((next) => {
    if (next && next.default) swapImages(import.meta.hot.data.live, next.default)
  })
}

function swapImages(live, fresh) {
  const previous = { ...live, images: live.images.map((item) => ({ ...item })) }
  const moved = new Map()
  const absolute = (url) => new URL(url, location.href).href
  previous.images.forEach((old, index) => {
    const next = fresh.images[index]
    if (next && next.src !== old.src) moved.set(absolute(old.src), next)
  })
  if (typeof document !== 'undefined' && moved.size > 0) {
    for (const element of document.querySelectorAll('img[src]')) {
      const old = previous.images.find((item) => absolute(item.src) === element.src)
      const next = moved.get(element.src)
      if (!next || !old) continue
      element.src = next.src
      if (element.getAttribute('width') === String(old.width)) element.setAttribute('width', String(next.width))
      if (element.getAttribute('height') === String(old.height)) element.setAttribute('height', String(next.height))
    }
    for (const element of document.querySelectorAll('img[srcset], source[srcset]')) {
      const srcset = element.getAttribute('srcset')
      const replaced = srcset.split(',').map((candidate) => {
        const [url, ...descriptor] = candidate.trim().split(/\\s+/)
        const next = url ? moved.get(absolute(url)) : undefined
        return next ? [next.src, ...descriptor].join(' ') : candidate.trim()
      }).join(', ')
      if (replaced !== srcset) element.setAttribute('srcset', replaced)
    }
  }
  Object.assign(live, fresh, { images: fresh.images.map((item) => ({ ...item })) })
  if (!('error' in fresh)) delete live.error
  if (typeof window !== 'undefined') {
    window.dispatchEvent(new CustomEvent('images-edit:update', { detail: { recipe: live.recipe, image: live, previous } }))
  }
}
`
