import type { BrowserCommand } from 'vitest/node'
import type { Page } from 'playwright'
import { attachToSharedWorker } from '../scripts/worker-cdp.mjs'
import { closePackedConsumer, servePackedConsumer } from './packed-consumer.ts'

/**
 * Browser commands: Node-side helpers the tests call to drive real extra tabs
 * of the same browser context (they share the test's SharedWorkers).
 */
const tabs = new Map<string, Page>()
let nextTab = 1

type Ctx = Parameters<BrowserCommand<[]>>[0] & { context: import('playwright').BrowserContext; page: Page }

/** Opens `path` (relative to the test's origin, or an absolute URL) in a new tab; returns its id. */
const openTab: BrowserCommand<[path: string]> = async (ctx, path) => {
  const { context, page } = ctx as Ctx
  const tab = await context.newPage()
  // The vitest server rewrites `import()` to go through its runner, which only its own pages define.
  await tab.addInitScript('globalThis.__vitest_browser_runner__ ??= { wrapDynamicImport: (load) => load() }')
  tab.on('pageerror', (error) => console.error(`[${path}] uncaught: ${error.message}`))
  await tab.goto(new URL(path, page.url()).href)
  const id = `tab-${nextTab++}`
  tabs.set(id, tab)
  return id
}

/** Evaluates `expression` (a string of JS, awaited) in a tab; returns its JSON-able result. */
const evalInTab: BrowserCommand<[id: string, expression: string]> = async (_ctx, id, expression) => {
  return tabOf(id).evaluate(`(async () => (${expression}))()`)
}

const closeTab: BrowserCommand<[id: string]> = async (_ctx, id) => {
  await tabOf(id).close()
  tabs.delete(id)
}

/** Crashes a tab's renderer through the Chrome DevTools Protocol (no unload, no pagehide). */
const crashTab: BrowserCommand<[id: string]> = async (ctx, id) => {
  const tab = tabOf(id)
  const session = await (ctx as Ctx).context.newCDPSession(tab)
  const crashed = tab.waitForEvent('crash', { timeout: 10_000 })
  void session.send('Page.crash').catch(() => {}) // its reply never comes: the renderer is gone
  await crashed
  tabs.delete(id)
}

/** Kills the SharedWorker named `workerName` through the Chrome DevTools Protocol, as a crash would. */
const killSharedWorker: BrowserCommand<[workerName: string]> = async (ctx, workerName) => {
  const cdp = await (ctx as Ctx).context.browser()!.newBrowserCDPSession()
  const { targetInfos } = await cdp.send('Target.getTargets')
  const worker = targetInfos.find((target) => target.type === 'shared_worker' && target.title === workerName)
  if (!worker) throw new Error(`No SharedWorker named ${workerName}; running: ${targetInfos.map((t) => `${t.type} ${t.title}`).join(', ')}`)
  await cdp.send('Target.closeTarget', { targetId: worker.targetId })
  await cdp.detach()
}

/** Takes the SharedWorker named `workerName` off the network, or back on, as a phone in a tunnel would be. */
const offlineWorkers = new Map<string, Awaited<ReturnType<typeof attachToSharedWorker>>>()
const setWorkerOffline: BrowserCommand<[workerName: string, offline: boolean]> = async (ctx, workerName, offline) => {
  // The emulation lasts as long as the DevTools session: it stays attached while offline.
  const worker = offlineWorkers.get(workerName) ?? (await attachToSharedWorker((ctx as Ctx).context.browser()!, workerName))
  offlineWorkers.set(workerName, worker)
  await worker.send('Network.enable')
  await worker.send('Network.emulateNetworkConditions', { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  if (offline) return
  offlineWorkers.delete(workerName)
  await worker.detach()
}

/**
 * Keeps the SharedWorker named `workerName` busy for `ms`, as a flood of events would: its
 * thread runs a loop, so every message waits. Returns once the loop is queued, before it ends.
 */
const busySharedWorker: BrowserCommand<[workerName: string, ms: number]> = async (ctx, workerName, ms) => {
  const worker = await attachToSharedWorker((ctx as Ctx).context.browser()!, workerName)
  try {
    await worker.send('Runtime.evaluate', { expression: `setTimeout(() => { const until = performance.now() + ${Number(ms)}; while (performance.now() < until); }, 0)` })
  } finally {
    await worker.detach()
  }
}

/** The V8 heap used by the test page's renderer, after a full garbage collection. */
const pageHeap: BrowserCommand<[]> = async (ctx) => {
  const { context, page } = ctx as Ctx
  const cdp = await context.newCDPSession(page)
  try {
    for (let i = 0; i < 3; i++) await cdp.send('HeapProfiler.collectGarbage')
    return (await cdp.send('Runtime.getHeapUsage')).usedSize
  } finally {
    await cdp.detach()
  }
}

/** One of the test process's environment variables (a browser test has no `process.env`). */
const env: BrowserCommand<[name: string]> = async (_ctx, name) => process.env[name]

const setViewport: BrowserCommand<[id: string, width: number, height: number]> = async (_ctx, id, width, height) => {
  await tabOf(id).setViewportSize({ width, height })
}

/** Saves a PNG of a tab to `path` (relative to the project), for a person to look at. */
const screenshotTab: BrowserCommand<[id: string, path: string]> = async (_ctx, id, path) => {
  await tabOf(id).screenshot({ path })
}

const reloadTab: BrowserCommand<[id: string]> = async (_ctx, id) => {
  await tabOf(id).reload()
}

function tabOf(id: string): Page {
  const tab = tabs.get(id)
  if (!tab) throw new Error(`No tab ${id}; open it with openTab first.`)
  return tab
}

export const browserCommands = {
  openTab, evalInTab, closeTab, crashTab, reloadTab, killSharedWorker, setWorkerOffline, busySharedWorker, env, pageHeap, setViewport, screenshotTab,
  servePackedConsumer: () => servePackedConsumer(),
  closePackedConsumer: () => closePackedConsumer(),
}
