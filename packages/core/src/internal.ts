/**
 * `@images-edit/core/internal`: engine parts the project's own tests and benchmarks reach for
 * beyond the public entry. No stability promise: names and shapes here change without a major
 * version. The CLI and the Vite plugin import only the public entry (`@images-edit/core`).
 */

export { PIXEL_SLOTS, pixelTask } from './pixels/pixel-child.js'
export { retryFacts } from './providers/paid-rule.js'
export { normalizeTask, resultUrls } from './providers/toapis-provider.js'
