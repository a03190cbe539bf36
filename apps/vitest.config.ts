import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/**
 * `npm run test:apps`: the fixture apps (apps/), in Node, each driving Chromium with Playwright.
 * Its own config (no browser mode, no dev server plugin); writes reports/apps.json for CI.
 */
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['apps/apps.test.ts'],
    environment: 'node',
    testTimeout: 400_000,
    hookTimeout: 400_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'reports/apps.json' },
  },
})
