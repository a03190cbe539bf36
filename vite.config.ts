import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { playwright } from '@vitest/browser-playwright'
import { chromium } from 'playwright'
import { defineConfig } from 'vitest/config'
import { chatServerPlugin } from './server/chat-server.ts'
import { clusterPlugin } from './test-node/cluster-plugin.ts'
import { browserCommands } from './test/browser-commands.ts'
import { publishedForm } from './scripts/published-form.ts'

/**
 * Which Chromium the browser tests drive: $CHROMIUM_PATH, else Debian's system
 * Chromium, else Playwright's own download. Says how to get one when none exists.
 */
function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser']
  const system = candidates.find((path) => path && existsSync(path))
  if (system) return system
  if (existsSync(chromium.executablePath())) return undefined // Playwright finds its own
  throw new Error(
    'No Chromium found for the browser tests. Install one: `sudo apt-get install chromium` (Debian/Ubuntu), ' +
      'or `npx playwright install chromium`, or set CHROMIUM_PATH to a Chromium binary.',
  )
}

// Flags for a root user on a closed network (TOOLCHAIN.md): without them Chromium stalls on Google hosts.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

export default defineConfig(({ mode }) => ({
  // clusterPlugin: two run-relay/server instances on one Redis, started only when a test asks (test/cluster.test.ts).
  // publishedForm: the lib build's last step (scripts/published-form.ts).
  plugins: mode === 'lib' ? [chatServerPlugin(), clusterPlugin(), publishedForm()] : [chatServerPlugin(), clusterPlugin()],
  // The README's examples import the package by name, as an app would: here it is this source.
  resolve: {
    alias: [
      { find: /^run-relay$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^run-relay\/(inspector|react|ai-sdk)$/, replacement: fileURLToPath(new URL('./src/$1.ts', import.meta.url)) },
    ],
  },
  // Relative asset URLs: the library's worker file must resolve next to the module inside node_modules.
  base: mode === 'lib' ? './' : '/',
  worker: { format: 'es' },
  optimizeDeps: { include: ['comlink', 'eventsource-parser', 'react', 'react-dom', 'react-dom/client', 'vitest-browser-react', 'fast-check', 'ai', '@ai-sdk/react'] },
  build:
    mode === 'lib'
      ? {
          outDir: 'dist/lib',
          // One file per public entry point; react and ai stay the app's (optional peers).
          // `server` is run-relay/server (server-lib/): no import at all, so it runs in Node, Bun, Deno and edge runtimes.
          lib: { entry: { 'run-relay': 'src/index.ts', inspector: 'src/inspector.ts', react: 'src/react.ts', 'ai-sdk': 'src/ai-sdk.ts', server: 'server-lib/index.ts' }, formats: ['es'] },
          sourcemap: true,
          rollupOptions: { external: ['comlink', 'react', 'react/jsx-runtime', 'ai'] },
        }
      : { outDir: 'dist/demo' },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // CI sums the JSON reports in reports/ (scripts/ci-report.mjs) to print its `N passed, N failed` lines.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: `reports/${process.env.REPORT_NAME ?? 'chromium'}.json` },
    browser: {
      enabled: true,
      headless: true,
      provider: playwright({ launchOptions: { executablePath: mode === 'test' ? chromiumPath() : undefined, args: CHROMIUM_ARGS } }),
      instances: [{ browser: 'chromium' }],
      commands: browserCommands,
    },
  },
}))
