/// <reference types="vite/client" />
/// <reference types="vite-plugin-images-edit/client" />
