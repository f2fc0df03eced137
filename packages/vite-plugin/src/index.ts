/**
 * vite-plugin-images-edit: AI image edits as a reproducible build step, in Vite.
 *
 * - `vite build` validates the manifest, runs the plan (frozen in CI) and emits every image as a
 *   hashed asset;
 * - `import hero from 'images-edit:hero'` gives `{ src, width, height, format, images }`, typed;
 * - `vite dev` starts at once, serves exact-size placeholders until each job is ready, then swaps
 *   the real image in over HMR, and shows everything at `/__images-edit/`.
 *
 * A thin adapter: every decision about images, caching and providers is `@images-edit/core`'s.
 */
export type { DevServerBridge } from './dev-server.js'
export type { PanelJob, PanelOutput, PanelState } from './panel-state.js'
export { default, default as imagesEdit, type ImagesEditPluginApi } from './plugin.js'
export type { ImagesEditImage, ImagesEditModule, ImagesEditPluginOptions } from './types.js'
