import { defineConfig } from 'vitest/config'

/**
 * The node tests of `run-relay/server` (`npm run test:server`): the run logs' contract suite
 * against memory and a real redis-server, the HTTP handlers, and separate server processes.
 * Apart from vite.config.ts, whose tests run in a browser.
 */
export default defineConfig({
  test: {
    include: ['test-node/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test-node/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: `reports/${process.env.REPORT_NAME ?? 'server'}.json` },
  },
})
