import { defineConfig } from 'astro/config'
import imagesEdit from 'vite-plugin-images-edit'

// images-edit is a Vite plugin: Astro takes it under `vite.plugins`.
export default defineConfig({
  vite: {
    plugins: [imagesEdit()],
  },
})
