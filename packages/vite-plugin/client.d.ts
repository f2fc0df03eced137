// Types for `images-edit:*` imports. Reference them once, e.g. in src/vite-env.d.ts:
//   /// <reference types="vite-plugin-images-edit/client" />
// With the plugin's `dts` option, a generated file also declares each recipe id, so an import of a
// recipe that does not exist is a type error.

declare module 'images-edit:*' {
  const image: import('vite-plugin-images-edit').ImagesEditModule
  export default image
}

interface WindowEventMap {
  /** Dispatched in dev when HMR swaps an image of an `images-edit:*` import in. */
  'images-edit:update': CustomEvent<{
    recipe: string
    image: import('vite-plugin-images-edit').ImagesEditModule
    previous: import('vite-plugin-images-edit').ImagesEditModule
  }>
}
