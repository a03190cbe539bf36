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
    // Two files at a time, whatever the cores (vitest's default on 2 cores is one): most of the
    // time goes to waiting (a 30 s Redis outage, cluster failovers), each file on Redis servers of its own.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: `reports/${process.env.REPORT_NAME ?? 'server'}.json` },
  },
})
