import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // CLI end-to-end tests spawn real processes and encode real images: give them room on 2 cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Provisions Chromium once (Debian's package, as root) before the browser suites run.
    globalSetup: ['test/setup/global.ts'],
    reporters: process.env.CI ? ['default'] : ['default'],
  },
})
