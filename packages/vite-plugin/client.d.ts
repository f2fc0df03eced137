// Loose types for `images-edit:*` imports, for projects WITHOUT the plugin's `dts` option:
//   /// <reference types="vite-plugin-images-edit/client" />
// Any recipe name type-checks here. With `dts` on, reference the generated file instead (it
// declares one module per recipe, so an import of a recipe that does not exist is a type error)
// and do not reference this file: its wildcard would accept every name again.

/// <reference path="./events.d.ts" />

declare module 'images-edit:*' {
  const image: import('vite-plugin-images-edit').ImagesEditModule
  export default image
}
