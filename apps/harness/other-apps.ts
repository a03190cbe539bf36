import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Page } from 'playwright'
import { expect } from 'vitest'
import { newSession, until, type Session } from './browser.ts'
import type { ChatBackend } from './chat-backend.ts'
import { finishedStream } from './chat-checks.ts'

/** The Vite React template under `vite dev` (StrictMode, the README's provider form), an esbuild and a Rollup page, and server rendering. */

const replyOf = (page: Page) => page.locator('[data-testid=reply], #reply').first()

export async function viteChecks(session: Session, backend: ChatBackend, url: string): Promise<void> {
  const sessionId = 'vite-strict'
  const page = await session.open(`${url}?session=${sessionId}`)
  await page.locator('input[name=message]').fill('hello from vite dev')
  await page.locator('input[name=message]').press('Enter')
  const sent = await finishedStream(backend, sessionId)
  await until(async () => (await page.getByTestId('pane').getAttribute('data-status')) === 'ended' && (await page.getByTestId('reply').textContent()) === sent.text, 'the reply whole on screen')
  expect(sent.opened).toBe(1)
  const workers = await session.sharedWorkers()
  expect(workers.some((worker) => worker.startsWith(url)), `a SharedWorker from the Vite dev server (${workers.join(', ')})`).toBe(true)
  expect(session.warnings.filter((w) => w.includes('run-relay')), 'no fallback warning').toEqual([])
  expect(session.errors, 'page errors').toEqual([])
}

export async function esbuildChecks(session: Session, backend: ChatBackend, dir: string): Promise<void> {
  const app = join(dir, 'esbuild')
  const esbuild = (await import(pathToFileURL(join(dir, 'node_modules', 'esbuild', 'lib', 'main.js')).href)) as typeof import('esbuild')
  const assets = join(dir, 'node_modules', 'run-relay', 'dist', 'lib', 'assets')
  const worker = readdirSync(assets).find((file) => /^shared-worker-[\w-]+\.js$/.test(file))!
  const site = join(app, 'site')
  const bundlerWarnings: string[] = []
  const bare = join(site, 'bare') // its own path, so its worker URL is not the one already running
  rmSync(site, { recursive: true, force: true })
  for (const out of [site, bare]) {
    mkdirSync(out, { recursive: true })
    cpSync(join(app, 'index.html'), join(out, 'index.html'))
    cpSync(join(app, 'classic.html'), join(out, 'classic.html'))
    for (const [format, file] of [['esm', 'main.js'], ['iife', 'main.iife.js']] as const) {
      const result = await esbuild.build({ entryPoints: [join(app, 'main.js')], bundle: true, format, outfile: join(out, file), logLevel: 'silent' })
      // No bundler warning about the package (esbuild's own: its iife note on import.meta is about the fallback, tested below).
      bundlerWarnings.push(...result.warnings.filter((warning) => warning.location?.file.includes('run-relay') && !/import\.meta/.test(warning.text)).map((warning) => `esbuild ${format}: ${warning.text}`))
    }
  }
  // The README's step for esbuild: copy the worker next to the bundle.
  cpSync(assets, join(site, 'assets'), { recursive: true })
  // Rollup (with node-resolve, as any app that bundles npm packages): the same step.
  const rolled = join(site, 'rollup')
  const { rollup } = (await import(pathToFileURL(join(dir, 'node_modules', 'rollup', 'dist', 'es', 'rollup.js')).href)) as RollupApi
  const { nodeResolve } = (await import(pathToFileURL(join(dir, 'node_modules', '@rollup', 'plugin-node-resolve', 'dist', 'es', 'index.js')).href)) as { nodeResolve(options: { browser: boolean }): unknown }
  const bundle = await rollup({ input: join(app, 'main.js'), plugins: [nodeResolve({ browser: true })], onwarn: (warning) => void bundlerWarnings.push(`rollup: ${warning.message}`) })
  await bundle.write({ dir: rolled, format: 'es' })
  await bundle.close()
  cpSync(join(app, 'index.html'), join(rolled, 'index.html'))
  cpSync(assets, join(rolled, 'assets'), { recursive: true })

  expect(bundlerWarnings, 'esbuild and Rollup warnings').toEqual([])

  const streams = async (path: string, sessionId: string, where = session) => {
    const page = await where.open(`${backend.url}/${path}${path.includes('?') ? '&' : '?'}session=${sessionId}`)
    await page.getByTestId('send').click()
    const sent = await finishedStream(backend, sessionId)
    await until(async () => (await replyOf(page).getAttribute('data-status')) === 'ended' && (await replyOf(page).textContent()) === sent.text, `${sessionId}: the reply whole`)
    expect(sent.opened).toBe(1)
    const mode = await page.locator('body').getAttribute('data-mode')
    await page.close()
    return mode
  }

  backend.serveStatic(site)
  expect(await streams('index.html', 'esm'), 'ESM bundle with the copied assets: a SharedWorker').toBe('shared-worker')
  expect((await session.sharedWorkers()).some((url) => url === `${backend.url}/assets/${worker}`)).toBe(true)
  expect(await streams('rollup/index.html', 'rollup'), 'Rollup ESM bundle with the copied assets: a SharedWorker').toBe('shared-worker')
  expect((await session.sharedWorkers()).some((url) => url === `${backend.url}/rollup/assets/${worker}`)).toBe(true)
  expect(await streams(`classic.html?workerUrl=/assets/${worker}`, 'iife-worker-url'), 'a classic script with workerUrl: a SharedWorker').toBe('shared-worker')
  expect(session.warnings.filter((w) => w.includes('run-relay'))).toEqual([])

  // Without the step, or in esbuild's default iife format (import.meta.url is empty): one warning, and the fallback streams.
  expect(await streams('classic.html', 'iife'), 'iife without workerUrl falls back').toBe('shared-tab')
  expect(session.warnings.filter((w) => w.includes('run-relay'))).toEqual([expect.stringContaining('import.meta.url is empty')])
  expect(session.errors, 'page errors').toEqual([])
  // In a browser context of its own: the leader tab of the fallback above is gone, and this one starts afresh.
  const fresh = await newSession(session.context.browser()!)
  try {
    expect(await streams('bare/index.html', 'esm-no-assets', fresh), 'ESM bundle without the assets falls back').toBe('shared-tab')
    const warnings = fresh.warnings.filter((w) => w.includes('run-relay'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`${backend.url}/bare/assets/${worker} unless your bundler emitted it elsewhere`)
    expect(warnings[0]).toContain('workerUrl')
    expect(fresh.errors, 'page errors').toEqual([])
  } finally {
    await fresh.close()
  }
}

/** The part of Rollup's API used here (its types are installed with the fixtures, not in this project). */
interface RollupApi {
  rollup(options: { input: string; plugins: unknown[]; onwarn: (warning: { message: string }) => void }): Promise<{ write(output: { dir: string; format: 'es' }): Promise<unknown>; close(): Promise<void> }>
}

/** Importing the package and creating relays during server rendering, in Node: nothing throws, nothing connects, calls fail typed; Vue's composables render on the server and subscribe to nothing. */
export async function serverRenderingChecks(dir: string): Promise<void> {
  const lib = join(dir, 'node_modules', 'run-relay', 'dist', 'lib')
  const { createRunRelay, startRun } = (await import(pathToFileURL(join(lib, 'run-relay.js')).href)) as typeof import('../../src/index.ts')
  const { RunRelayProvider } = (await import(pathToFileURL(join(lib, 'react.js')).href)) as typeof import('../../src/react.ts')
  const { RelayChatTransport } = (await import(pathToFileURL(join(lib, 'ai-sdk.js')).href)) as typeof import('../../src/ai-sdk.ts')
  expect(typeof RunRelayProvider).toBe('function')
  for (const mode of ['auto', 'shared-worker', 'shared-tab', 'in-page'] as const) {
    const relay = createRunRelay({ mode })
    expect(() => new RelayChatTransport({ relay })).not.toThrow()
    const stop = relay.subscribe({ sessionId: 's' }, {})
    await expect(relay.open({ runId: 'r', sessionId: 's', url: '/api/chat/stream?stream_id=r' }), mode).rejects.toMatchObject({ code: 'no_browser' })
    await expect(relay.ready, mode).rejects.toMatchObject({ code: 'no_browser' })
    stop()
    relay.dispose()
  }
  expect(typeof startRun).toBe('function')

  // Vue's server rendering (what Nuxt does): the composables render the empty view and subscribe to nothing.
  const vue = (await import(pathToFileURL(join(dir, 'node_modules', 'vue', 'index.mjs')).href)) as typeof import('vue')
  const { renderToString } = (await import(pathToFileURL(join(dir, 'node_modules', 'vue', 'server-renderer', 'index.mjs')).href)) as { renderToString(app: unknown): Promise<string> }
  const bindings = (await import(pathToFileURL(join(lib, 'vue.js')).href)) as typeof import('../../src/vue.ts')
  const relay = createRunRelay()
  let subscribed = 0
  const counting = { ...relay, subscribe: (...args: Parameters<typeof relay.subscribe>) => (subscribed++, relay.subscribe(...args)), watchRuns: (listener: Parameters<typeof relay.watchRuns>[0]) => (subscribed++, relay.watchRuns(listener)) } as typeof relay
  const Chat = vue.defineComponent(() => {
    const view = bindings.useSession('chat')
    const runs = bindings.useRuns()
    return () => vue.h('p', { 'data-status': view.value.status ?? 'none' }, `${view.value.state}|${runs.value.length}`)
  })
  const Root = vue.defineComponent(() => {
    bindings.provideRunRelay(counting)
    return () => vue.h(Chat)
  })
  expect(await renderToString(vue.createSSRApp(Root))).toBe('<p data-status="none">|0</p>')
  expect(subscribed, 'subscriptions made during server rendering').toBe(0)
  relay.dispose()
}

/** `run-relay/ai-sdk` type-checks as a `ChatTransport` of the installed `ai` (7 in the fixtures; 6 in `npm test`'s typed consumer). */
export function aiSdkTypeErrors(dir: string, tsc: string): string {
  const consumer = join(dir, 'ai-types')
  rmSync(consumer, { recursive: true, force: true })
  mkdirSync(consumer, { recursive: true })
  writeFileSync(join(consumer, 'consumer.ts'), [
    "import type { ChatTransport, UIMessage } from 'ai'",
    "import { createRunRelay } from 'run-relay'",
    "import { RelayChatTransport } from 'run-relay/ai-sdk'",
    'export const transport: ChatTransport<UIMessage> = new RelayChatTransport({ relay: createRunRelay() })',
    '',
  ].join('\n'))
  // skipLibCheck: @ai-sdk/provider 4 imports `json-schema` types it does not ship (TS7016 inside that package, not ours).
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: [], strict: true, skipLibCheck: true, noEmit: true },
    files: ['consumer.ts'],
  }))
  try {
    execFileSync(tsc, ['-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' })
    return ''
  } catch (error) {
    return (error as { stdout?: string }).stdout ?? String(error)
  }
}
