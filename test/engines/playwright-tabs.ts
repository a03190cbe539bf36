import type { BrowserContext, Page } from 'playwright'
import { attachToSharedWorker } from '../../scripts/worker-cdp.mjs'
import type { EngineAction, TabDriver } from './tab-driver.ts'

/**
 * The tab driver over Playwright (Chromium over CDP, Firefox over WebDriver BiDi). The
 * engine-internal actions use the Chrome DevTools Protocol, so only a Chromium driver has them.
 */
const tabs = new Map<string, Page>()
let nextTab = 1

export function playwrightTabs(context: BrowserContext, page: Page): TabDriver {
  const driver: TabDriver = {
    async openTab(path) {
      const tab = await context.newPage()
      // The vitest server rewrites `import()` to go through its runner, which only its own pages define.
      await tab.addInitScript('globalThis.__vitest_browser_runner__ ??= { wrapDynamicImport: (load) => load() }')
      tab.on('pageerror', (error) => console.error(`[${path}] uncaught: ${error.message}`))
      await tab.goto(new URL(path, page.url()).href)
      const id = `tab-${nextTab++}`
      tabs.set(id, tab)
      return id
    },
    evalInTab: (id, expression) => tabOf(id).evaluate(`(async () => (${expression}))()`),
    async closeTab(id) {
      await tabOf(id).close()
      tabs.delete(id)
    },
    async reloadTab(id) {
      await tabOf(id).reload()
    },
    setViewport: (id, width, height) => tabOf(id).setViewportSize({ width, height }),
    async screenshotTab(id, path) {
      await tabOf(id).screenshot({ path })
    },
  }
  return context.browser()?.browserType().name() === 'chromium' ? { ...driver, ...devtoolsActions(context, page) } : driver
}

/** Chromium's DevTools-protocol actions, which no other engine offers from outside. */
function devtoolsActions(context: BrowserContext, page: Page): Required<Pick<TabDriver, EngineAction>> {
  return {
    async crashTab(id) {
      const tab = tabOf(id)
      const session = await context.newCDPSession(tab)
      const crashed = tab.waitForEvent('crash', { timeout: 10_000 })
      void session.send('Page.crash').catch(() => {}) // its reply never comes: the renderer is gone
      await crashed
      tabs.delete(id)
    },
    async killSharedWorker(workerName) {
      const cdp = await context.browser()!.newBrowserCDPSession()
      const { targetInfos } = await cdp.send('Target.getTargets')
      const worker = targetInfos.find((target) => target.type === 'shared_worker' && target.title === workerName)
      if (!worker) throw new Error(`No SharedWorker named ${workerName}; running: ${targetInfos.map((t) => `${t.type} ${t.title}`).join(', ')}`)
      await cdp.send('Target.closeTarget', { targetId: worker.targetId })
      await cdp.detach()
    },
    async setWorkerOffline(workerName, offline) {
      // The emulation lasts as long as the DevTools session: it stays attached while offline.
      const worker = offlineWorkers.get(workerName) ?? (await attachToSharedWorker(context.browser()!, workerName))
      offlineWorkers.set(workerName, worker)
      await worker.send('Network.enable')
      await worker.send('Network.emulateNetworkConditions', { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
      if (offline) return
      offlineWorkers.delete(workerName)
      await worker.detach()
    },
    async busySharedWorker(workerName, ms) {
      const worker = await attachToSharedWorker(context.browser()!, workerName)
      try {
        await worker.send('Runtime.evaluate', { expression: `setTimeout(() => { const until = performance.now() + ${Number(ms)}; while (performance.now() < until); }, 0)` })
      } finally {
        await worker.detach()
      }
    },
    async pageHeap() {
      const cdp = await context.newCDPSession(page)
      try {
        for (let i = 0; i < 3; i++) await cdp.send('HeapProfiler.collectGarbage')
        return (await cdp.send('Runtime.getHeapUsage')).usedSize
      } finally {
        await cdp.detach()
      }
    },
  }
}
const offlineWorkers = new Map<string, Awaited<ReturnType<typeof attachToSharedWorker>>>()

function tabOf(id: string): Page {
  const tab = tabs.get(id)
  if (!tab) throw new Error(`No tab ${id}; open it with openTab first.`)
  return tab
}
