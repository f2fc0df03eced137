import { defineConfig } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'

export default defineConfig({
  plugins: [imagesEdit()],
})
