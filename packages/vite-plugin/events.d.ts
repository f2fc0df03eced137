// The dev-time event of `images-edit:*` imports. Referenced by the generated `dts` file and by
// `vite-plugin-images-edit/client`; it declares no module, so it never makes an unknown recipe
// type-check.

interface WindowEventMap {
  /** Dispatched in dev when HMR swaps an image of an `images-edit:*` import in. */
  'images-edit:update': CustomEvent<{
    recipe: string
    image: import('vite-plugin-images-edit').ImagesEditModule
    previous: import('vite-plugin-images-edit').ImagesEditModule
  }>
}
