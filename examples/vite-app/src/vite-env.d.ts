/// <reference types="vite/client" />
// The `images-edit:*` types come from ./images-edit.d.ts, which the plugin's `dts` option writes:
// one module per recipe, so importing a recipe that does not exist is a type error.
