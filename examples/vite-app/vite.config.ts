import { defineConfig } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'

export default defineConfig({
  plugins: [
    imagesEdit({
      // Everything else is the default: manifest 'images.edit.yaml', frozen in CI, panel at /__images-edit/.
      dts: 'src/images-edit.d.ts',
    }),
  ],
})
