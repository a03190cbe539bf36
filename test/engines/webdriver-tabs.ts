import type { TabDriver } from './tab-driver.ts'

/**
 * The tab driver over WebDriver classic window handles (WebKitWebDriver has no BiDi), for the
 * webdriverio provider. A session has one current window: each command switches to its tab's
 * window and back to the test's, one command at a time. No engine-internal actions.
 */
type Browser = WebdriverIO.Browser
type Provider = { iframeSwitched: boolean }

const tabs = new Map<string, string>() // tab id -> window handle
let nextTab = 1
let queue: Promise<unknown> = Promise.resolve()
let homeHandle: string | undefined // the test's window, found once

export function webdriverTabs(browser: Browser, provider: Provider): TabDriver {
  /** Runs `work` in a tab's window ('new': a new one), then returns to the test's window. */
  function inWindow<T>(handle: string | 'new', work: (handle: string) => Promise<T>): Promise<T> {
    const run = queue.then(async () => {
      const home = (homeHandle ??= await browser.getWindowHandle())
      const target = handle === 'new' ? (await browser.createWindow('window')).handle : handle
      await browser.switchToWindow(target)
      try {
        return await work(target)
      } finally {
        await browser.switchToWindow(home)
        provider.iframeSwitched = false // back at the top of the test's window: the provider re-enters its iframe
      }
    })
    queue = run.catch(() => {})
    return run
  }

  return {
    async openTab(path) {
      const base = await browser.getUrl()
      const id = `tab-${nextTab++}`
      await inWindow('new', async (handle) => {
        tabs.set(id, handle)
        await browser.navigateTo(new URL(path, base).href)
        // The vitest server rewrites `import()` to go through its runner, which only its own pages define.
        // WebDriver classic has no init scripts: defined after the load, for the imports a click starts.
        await browser.execute('globalThis.__vitest_browser_runner__ ??= { wrapDynamicImport: (load) => load() }')
      })
      return id
    },
    async evalInTab(id, expression) {
      const result = (await inWindow(handleOf(id), () =>
        browser.executeAsync(
          `const done = arguments[arguments.length - 1];
           (async () => (${expression}))().then((value) => done({ value }), (error) => done({ error: String((error && error.stack) || error) }))`,
        ),
      )) as { value?: unknown; error?: string } | undefined
      if (result && 'error' in result) throw new Error(`in ${id}: ${result.error}`)
      return result?.value
    },
    async closeTab(id) {
      await inWindow(handleOf(id), () => browser.closeWindow())
      tabs.delete(id)
    },
    async reloadTab(id) {
      await inWindow(handleOf(id), () => browser.refresh())
    },
    async setViewport(id, width, height) {
      await inWindow(handleOf(id), () => browser.setWindowSize(width, height))
    },
    async screenshotTab(id, path) {
      await inWindow(handleOf(id), () => browser.saveScreenshot(path))
    },
  }
}

function handleOf(id: string): string {
  const handle = tabs.get(id)
  if (!handle) throw new Error(`No tab ${id}; open it with openTab first.`)
  return handle
}
