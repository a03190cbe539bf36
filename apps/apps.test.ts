import { join } from 'node:path'
import type { Browser } from 'playwright'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, newSession, type Session } from './harness/browser.ts'
import { startChatBackend, type ChatBackend } from './harness/chat-backend.ts'
import { chatChecks } from './harness/chat-checks.ts'
import { freePort, installApps, repo, runWithOutput, startServer, type AppServer } from './harness/install.ts'
import { aiSdkTypeErrors, esbuildChecks, serverRenderingChecks, viteChecks } from './harness/other-apps.ts'
import { freshNextChecks, killedProducer, startTwoInstances, type TwoInstances } from './harness/next-fresh.ts'

/**
 * Real apps built from the packed tarball with each bundler's defaults (`npm run test:apps`):
 * Next.js (Turbopack build, webpack build, dev), the Vite React template under `vite dev`, the
 * Vite Vue template with @ai-sdk/vue (built, then `vite preview`), an esbuild page, and the
 * package imported during server rendering.
 */
let dir: string
let browser: Browser
const only = process.env.APPS?.split(',') // e.g. APPS=turbopack,vite while working on one

beforeAll(async () => {
  dir = installApps()
  browser = await launchChromium()
}, 300_000)
afterAll(async () => browser?.close())

/** One chat backend, one app server and one browser session per app. */
function appSuite(name: string, start: (backend: ChatBackend) => Promise<AppServer>, checks: (session: Session, backend: ChatBackend, server: AppServer) => Promise<void>) {
  describe.skipIf(only !== undefined && !only.includes(name))(name, () => {
    let backend: ChatBackend
    let server: AppServer | undefined
    let session: Session | undefined
    afterAll(async () => {
      await session?.close()
      await server?.stop()
      await backend?.close()
    })
    it(`${name}: streams as the README promises`, async () => {
      backend = await startChatBackend()
      server = await start(backend)
      session = await newSession(browser)
      try {
        await checks(session, backend, server)
      } catch (error) {
        // What the pages and the server said, to tell a library failure from a fixture one.
        const pages = await Promise.all(session.context.pages().map(async (page) => `${page.url()}\n${(await page.locator('body').innerHTML().catch(() => '')).slice(0, 1500)}`))
        ;(error as Error).message += `\n--- page errors: ${JSON.stringify(session.errors)}\n--- warnings: ${JSON.stringify(session.warnings)}` +
          `\n--- shared workers: ${JSON.stringify(await session.sharedWorkers())}\n--- pages:\n${pages.join('\n')}\n--- server output (tail):\n${server.output().slice(-3000)}`
        throw error
      }
    }, 400_000)
  })
}

/** Lines of a build's output that are about this package: a warning names its file in node_modules, or the directive. */
const warningsAboutUs = (output: string) => output.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((line) => /MODULE_LEVEL_DIRECTIVE|node_modules\/run-relay/i.test(line))
const nextBuildOutput: Record<string, string> = {}

async function next(backend: ChatBackend, how: 'turbopack' | 'webpack' | 'dev'): Promise<AppServer> {
  const app = join(dir, 'next')
  const port = await freePort()
  const env = { CHAT_SERVER_PORT: String(backend.port) }
  const bin = join(dir, 'node_modules', '.bin', 'next')
  if (how === 'dev') return startServer(bin, ['dev', '--port', String(port), '--hostname', '127.0.0.1'], app, { env, url: `http://127.0.0.1:${port}/`, ready: /Ready in/, timeoutMs: 120_000 })
  nextBuildOutput[how] = runWithOutput(bin, how === 'webpack' ? ['build', '--webpack'] : ['build'], app, env)
  return startServer(bin, ['start', '--port', String(port), '--hostname', '127.0.0.1'], app, { env, url: `http://127.0.0.1:${port}/`, ready: /Ready in/ })
}

const nextChecks = (label: string, how: 'turbopack' | 'webpack' | 'dev') => async (session: Session, backend: ChatBackend, server: AppServer) => {
  if (how !== 'dev') expect(warningsAboutUs(nextBuildOutput[how]!), nextBuildOutput[how]).toEqual([])
  await chatChecks(session, backend, server.url, label)
  // The same chat through <RunRelayProvider> in the server layout and useRunRelay() in the page.
  const provider = await newSession(browser)
  try {
    await chatChecks(provider, backend, `${server.url}provider`, `${label}, provider`, 'p-')
  } finally {
    await provider.close()
  }
}

appSuite('turbopack', (backend) => next(backend, 'turbopack'), nextChecks('next build (Turbopack)', 'turbopack'))
appSuite('webpack', (backend) => next(backend, 'webpack'), nextChecks('next build --webpack', 'webpack'))
appSuite('next-dev', (backend) => next(backend, 'dev'), nextChecks('next dev', 'dev'))
appSuite('vite', async (backend) => {
  const port = await freePort()
  return startServer(join(dir, 'node_modules', '.bin', 'vite'), ['--port', String(port), '--host', '127.0.0.1', '--strictPort'], join(dir, 'vite-react'), {
    env: { CHAT_SERVER_PORT: String(backend.port) }, url: `http://127.0.0.1:${port}/`, ready: /ready in/i,
  })
}, (session, backend, server) => viteChecks(session, backend, server.url))
// The Vue template built as its `npm run build` does (vue-tsc -b, then vite build), served by `vite preview`.
let vueBuildOutput = ''
appSuite('vue', async (backend) => {
  const app = join(dir, 'vite-vue')
  const bin = (name: string) => join(dir, 'node_modules', '.bin', name)
  vueBuildOutput = runWithOutput(bin('vue-tsc'), ['-b'], app) + runWithOutput(bin('vite'), ['build'], app)
  const port = await freePort()
  return startServer(bin('vite'), ['preview', '--port', String(port), '--host', '127.0.0.1', '--strictPort'], app, {
    env: { CHAT_SERVER_PORT: String(backend.port) }, url: `http://127.0.0.1:${port}/`, ready: /Local:/i,
  })
}, async (session, backend, server) => {
  // No bundler warning about the package (a `'use client'` in ai-sdk.js made Vite warn on every build).
  // (Vite lists its output files as `dist/…` lines; a warning names the package's file in node_modules.)
  expect(warningsAboutUs(vueBuildOutput), vueBuildOutput).toEqual([])
  expect(vueBuildOutput, 'the build says nothing but its output').not.toMatch(/warn/i)
  await chatChecks(session, backend, server.url, 'vite build (Vue, @ai-sdk/vue)')
})
// SvelteKit (`sv create`, minimal TypeScript template: server rendering on), built, served by `vite preview`.
let svelteBuildOutput = ''
appSuite('sveltekit', async (backend) => {
  const app = join(dir, 'sveltekit')
  const bin = (name: string) => join(dir, 'node_modules', '.bin', name)
  svelteBuildOutput = runWithOutput(bin('vite'), ['build'], app)
  const port = await freePort()
  return startServer(bin('vite'), ['preview', '--port', String(port), '--host', '127.0.0.1', '--strictPort'], app, {
    env: { CHAT_SERVER_PORT: String(backend.port) }, url: `http://127.0.0.1:${port}/`, ready: /Local:/i,
  })
}, async (session, backend, server) => {
  // No bundler warning about the package. (adapter-auto says it found no production platform: not ours.)
  expect(warningsAboutUs(svelteBuildOutput), svelteBuildOutput).toEqual([])
  // Rendered on the server (the relay created there holds nothing and throws nothing), then hydrated.
  const html = await (await fetch(`${server.url}?chat=A`)).text()
  expect(html).toContain('data-testid="chat"')
  await chatChecks(session, backend, server.url, 'SvelteKit (server rendering, run-relay/svelte)', '', false)
  // @ai-sdk/svelte's Chat with RelayChatTransport, in a browser context of its own.
  const aiSdk = await newSession(session.context.browser()!)
  try {
    await chatChecks(aiSdk, backend, `${server.url}ai`, 'SvelteKit, @ai-sdk/svelte', 'ai-')
  } finally {
    await aiSdk.close()
  }
})
appSuite('esbuild', async (backend) => ({ url: backend.url + '/', output: () => '', stop: async () => {}, kill: async () => {} }), (session, backend) => esbuildChecks(session, backend, dir))

describe.skipIf(only !== undefined && !only.includes('ssr'))('server rendering', () => {
  it('imports the package and creates relays in every mode without throwing; calls reject with no_browser', async () => {
    await expect(serverRenderingChecks(dir)).resolves.toBeUndefined()
  })
})

describe.skipIf(only !== undefined && !only.includes('ai-types'))('ai 7 types', () => {
  it('RelayChatTransport is a ChatTransport of ai 7', () => {
    expect(aiSdkTypeErrors(dir, join(repo, 'node_modules', '.bin', 'tsc'))).toBe('')
  })
})

describe.skipIf(only !== undefined && !only.includes('next-fresh'))('a fresh create-next-app 16 on run-relay/server', () => {
  let app: TwoInstances | undefined
  let session: Session | undefined
  afterAll(async () => {
    await session?.close()
    await app?.close()
  })
  it('builds with no Redis; two instances on one Redis behind a proxy: switches, tabs, reloads, history, a stop from the other instance, a killed producer', async () => {
    app = await startTwoInstances(dir)
    session = await newSession(browser)
    try {
      await freshNextChecks(session, app, 'fresh')
      const killed = await killedProducer(session, app, 'fresh')
      console.log(`kill -9 of the producer: the page showed "${killed.shown}" after ${killed.ms} ms`)
      expect(killed.ms, "a dead producer shows within 5 s").toBeLessThan(5000)
      expect(session.errors.filter((error) => !/Failed to load resource/.test(error))).toEqual([])
    } catch (error) {
      ;(error as Error).message += `\n--- page errors: ${JSON.stringify(session.errors)}\n--- requests: ${JSON.stringify(app.seen.slice(-40))}\n${app.output()}`
      throw error
    }
  }, 400_000)
})
