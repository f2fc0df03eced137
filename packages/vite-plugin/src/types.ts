import type { ProviderId, ProviderRegistry } from '@images-edit/core'

/**
 * Options of the images-edit Vite plugin.
 *
 * @example
 * ```ts
 * // vite.config.ts
 * import { defineConfig } from 'vite'
 * import imagesEdit from 'vite-plugin-images-edit'
 *
 * export default defineConfig({
 *   plugins: [imagesEdit({ manifest: 'images.edit.yaml', dts: 'src/images-edit.d.ts' })],
 * })
 * ```
 */
export interface ImagesEditPluginOptions {
  /**
   * Path of the manifest, relative to Vite's `root` (or absolute). Its folder holds the lock
   * (`images.edit.lock`), the store (`.images-edit/`) and, through `out`, the generated images.
   *
   * @default 'images.edit.yaml'
   * @example 'images/images.edit.yaml'
   */
  manifest?: string

  /**
   * Refuse to generate anything: every image must already be in the lock and on disk (or in the
   * store). A job that would need the provider fails the build before any call, naming the job
   * and why it is stale — so CI never spends money by surprise.
   *
   * One rule (core's `resolveFrozen`) for `vite build`, `vite dev` and every server a framework
   * starts: unset, it is frozen exactly when the `CI` environment variable is set (and not `0` or
   * `false`), so outside CI a dev server generates what is missing and in CI it restores what it can
   * and shows placeholders for the rest. A server a framework starts inside its build is always
   * frozen (the build itself generates).
   *
   * @default true when `CI` is set, else false
   * @example false // let a CI job that is meant to generate do so
   */
  frozen?: boolean

  /**
   * Write a `.d.ts` that declares one `images-edit:<id>` module per recipe (and per `each` job), so
   * a typo in an import is a type error. `true` writes `src/images-edit.d.ts` when `root` has a
   * `src` folder (what Vite's and SvelteKit's tsconfig include), else `images-edit.d.ts` in `root`;
   * a string is the path to write, relative to `root`. The file is rewritten only when it changes.
   * Do not also reference `vite-plugin-images-edit/client` (its wildcard accepts every name);
   * without `dts`, that reference types every `images-edit:*` import loosely.
   *
   * @default false
   * @example 'src/images-edit.d.ts'
   */
  dts?: boolean | string

  /**
   * Run every recipe on this provider instead of the one the manifest names — `'local'` works
   * offline, for free, with placeholders of the exact size.
   *
   * @default undefined (each recipe's own provider)
   * @example process.env.OFFLINE ? 'local' : undefined
   */
  provider?: ProviderId

  /**
   * Provider instances to use instead of the built-in ones: a custom gateway, a recording wrapper,
   * or a test double (see `createProviderRegistry` in `@images-edit/core`).
   *
   * @default the built-in providers, configured from the manifest, the environment and `.env`
   */
  providers?: ProviderRegistry

  /**
   * Environment read for API keys and `IMAGES_EDIT_<PROVIDER>_BASE_URL` overrides. The team
   * store's variables (`IMAGES_EDIT_REMOTE*`, `AWS_*`) are read from it over `process.env`, so
   * passing only the keys here never hides a team store CI configured.
   *
   * @default process.env
   */
  env?: NodeJS.ProcessEnv

  /**
   * false: ignore the team store (`remote:` of the manifest, or `IMAGES_EDIT_REMOTE`) and
   * generate what is not stored locally — what `--no-remote` does for the CLI. When the team store
   * cannot be asked, the build otherwise refuses rather than pay for what a teammate may have.
   *
   * @default true
   */
  remote?: boolean

  /**
   * Serve the dev panel at `/__images-edit/`: every recipe with its refs, mask, prompt, outputs,
   * state, progress and errors, updating live.
   *
   * @default true
   */
  panel?: boolean
}

/** One image of an `images-edit:<id>` import. */
export interface ImagesEditImage {
  /** URL of the image: a hashed asset after `vite build`, a dev-server URL during `vite dev`. */
  src: string
  /** Width in pixels (exact, also for a placeholder). */
  width: number
  /** Height in pixels (exact, also for a placeholder). */
  height: number
  format: 'png' | 'jpeg' | 'webp'
  /** Job that made it: the recipe id, or `recipe/file` for an `each` fan-out. */
  job: string
  /** True while the job is not ready and this is the `local` provider's stand-in (dev only). */
  placeholder: boolean
}

/**
 * What `import image from 'images-edit:<id>'` gives: the first image's fields, plus every image of
 * the recipe (`n` of them, times the files of an `each` fan-out).
 *
 * @example
 * ```ts
 * import hero from 'images-edit:hero'
 * img.src = hero.src
 * img.width = hero.width
 * for (const take of hero.images) gallery.append(Object.assign(new Image(), { src: take.src }))
 * ```
 */
export interface ImagesEditModule<Id extends string = string> {
  /** The recipe (or `each` job) id that was imported. */
  recipe: Id
  /** First image's URL. */
  src: string
  width: number
  height: number
  format: 'png' | 'jpeg' | 'webp'
  /** True while any image is still a placeholder (dev only; always false after `vite build`). */
  placeholder: boolean
  images: ImagesEditImage[]
  /** Why the last run of a job failed or was blocked (dev only). */
  error?: string
}
