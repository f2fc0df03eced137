import adapter from '@sveltejs/adapter-static'
import { sveltekit } from '@sveltejs/kit/vite'
import { defineConfig } from 'vite'
import imagesEdit from 'vite-plugin-images-edit'

// SvelteKit 3 takes its configuration in the plugin (svelte.config.js is no longer read).
export default defineConfig({
  plugins: [imagesEdit(), sveltekit({ adapter: adapter() })],
})
