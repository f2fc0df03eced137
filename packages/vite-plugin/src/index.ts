/**
 * vite-plugin-images-edit — not built yet.
 *
 * The plugin is specified in PRODUCT.md §8 and tracked by its own issue. Until then this package
 * exists so the workspace layout is final; importing it throws a clear error instead of doing
 * nothing silently.
 */
export default function imagesEdit(): never {
  throw new Error('vite-plugin-images-edit is not implemented yet. Use the CLI (`npx images-edit build`) for now.')
}
