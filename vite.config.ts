import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { chatServerPlugin } from './dev-server/chat-server.ts'
import { clusterPlugin } from './test-node/cluster-plugin.ts'
import { durableStreamsPlugin } from './test-node/durable-streams-plugin.ts'
import { resumableStreamPlugin } from './test-node/resumable-stream-plugin.ts'
import { http2Plugin } from './test-node/http2-plugin.ts'
import { browserCommands } from './test/browser-commands.ts'
import { publishedForm } from './scripts/published-form.ts'
import { engineInstance, selectedEngines } from './test/engines/instances.ts'

export default defineConfig(({ mode }) => ({
  // clusterPlugin: two run-relay/server instances on one Redis, started only when a test asks (test/cluster.test.ts).
  // publishedForm: the lib build's last step (scripts/published-form.ts).
  // durableStreamsPlugin: the real @durable-streams/server behind a faulty proxy (test/durable-streams.test.ts).
  // http2Plugin: a real HTTP/2 server over TLS on another origin (test/http2.test.ts).
  // resumableStreamPlugin: the AI SDK docs' resumable chat server, real `ai` and `resumable-stream` on Redis (test/recovery.test.ts).
  plugins: mode === 'lib' ? [chatServerPlugin(), clusterPlugin(), publishedForm()] : [chatServerPlugin(), clusterPlugin(), durableStreamsPlugin(), resumableStreamPlugin(), http2Plugin()],
  // The README's examples import the package by name, as an app would: here it is this source.
  resolve: {
    alias: [
      { find: /^run-relay$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^run-relay\/(inspector|react|ai-sdk|store|vue|svelte)$/, replacement: fileURLToPath(new URL('./src/$1.ts', import.meta.url)) },
    ],
  },
  // Relative asset URLs: the library's worker file must resolve next to the module inside node_modules.
  base: mode === 'lib' ? './' : '/',
  worker: { format: 'es' },
  optimizeDeps: { include: ['comlink', 'eventsource-parser', 'react', 'react-dom', 'react-dom/client', 'vitest-browser-react', 'fast-check', 'ai', '@ai-sdk/react', 'vue', 'svelte', 'svelte/store'] },
  build:
    mode === 'lib'
      ? {
          outDir: 'dist/lib',
          // One file per public entry point; react, vue, svelte and ai stay the app's (optional peers).
          // `server` is run-relay/server (server/): no import at all, so it runs in Node, Bun, Deno and edge runtimes.
          lib: { entry: { 'run-relay': 'src/index.ts', inspector: 'src/inspector.ts', react: 'src/react.ts', 'ai-sdk': 'src/ai-sdk.ts', store: 'src/store.ts', vue: 'src/vue.ts', svelte: 'src/svelte.ts', server: 'server/index.ts' }, formats: ['es'] },
          sourcemap: true,
          rollupOptions: { external: ['comlink', 'react', 'react/jsx-runtime', 'ai', 'vue', 'svelte'] },
        }
      : { outDir: 'dist/demo' },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // CI sums the JSON reports in reports/ (scripts/ci-report.mjs) to print its `N passed, N failed` lines.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: `reports/${process.env.REPORT_NAME ?? (process.env.ENGINES || 'chromium').replaceAll(',', '+')}.json` },
    browser: {
      enabled: true,
      headless: true,
      // One file at a time, on any machine (vitest's default is one per core but one): the browser's
      // 6 connections per origin are shared by every file running at once, and test/budget.test.ts
      // claims the page's requests stay fast while the hub holds connections.
      fileParallelism: false,
      // One instance per engine in $ENGINES (test/engines/instances.ts; default chromium). `npm test`
      // runs chromium and firefox one after the other, `npm run test:webkit` runs webkit.
      instances: mode === 'test' ? selectedEngines().map(engineInstance) : [],
      // One set of commands; each picks the Playwright or the WebDriver way by the session's provider.
      commands: browserCommands,
    },
  },
}))
