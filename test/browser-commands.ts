import { freePort } from '../test-node/redis-server.ts'
import type { BrowserCommand, BrowserCommandContext } from 'vitest/node'
import type { BrowserContext, Page } from 'playwright'
import { closePackedConsumer, servePackedConsumer } from './packed-consumer.ts'
import { playwrightTabs } from './engines/playwright-tabs.ts'
import { ENGINE_ACTIONS, type EngineAction, type TabDriver } from './engines/tab-driver.ts'
import { webdriverTabs } from './engines/webdriver-tabs.ts'

/**
 * Browser commands: Node-side helpers the tests call to drive real extra tabs of the same
 * browser context, and the engine-internal actions only some engines offer. Each command
 * goes to the session's tab driver: Playwright's (Chromium, Firefox) or WebDriver's (WebKit).
 */
function driverOf(ctx: BrowserCommandContext): TabDriver {
  const provider = ctx.provider as BrowserCommandContext['provider'] & { name: string }
  switch (provider.name) {
    case 'playwright': {
      const { context, page } = ctx as unknown as { context: BrowserContext; page: Page }
      return playwrightTabs(context, page)
    }
    case 'webdriverio': {
      const { browser } = ctx as unknown as { browser: WebdriverIO.Browser }
      return webdriverTabs(browser, provider as unknown as { iframeSwitched: boolean })
    }
    default:
      throw new Error(`No tab driver for the ${provider.name} provider: use playwright or webdriverio (test/engines/instances.ts).`)
  }
}

/** An engine-internal action, or a clear error naming the engine and the equivalent to use. */
function action<A extends EngineAction>(name: A): BrowserCommand<Parameters<NonNullable<TabDriver[A]>>> {
  return async (ctx, ...args) => {
    const run = driverOf(ctx)[name] as ((...a: unknown[]) => Promise<unknown>) | undefined
    if (!run) throw new Error(`${name} needs the Chrome DevTools Protocol, which ${ctx.project.name} does not offer: check engineCan('${name}') and use the equivalent in test/engine.ts.`)
    return run(...args)
  }
}

export const browserCommands = {
  openTab: ((ctx, path) => driverOf(ctx).openTab(path)) as BrowserCommand<[path: string]>,
  evalInTab: ((ctx, id, expression) => driverOf(ctx).evalInTab(id, expression)) as BrowserCommand<[id: string, expression: string]>,
  closeTab: ((ctx, id) => driverOf(ctx).closeTab(id)) as BrowserCommand<[id: string]>,
  reloadTab: ((ctx, id) => driverOf(ctx).reloadTab(id)) as BrowserCommand<[id: string]>,
  setViewport: ((ctx, id, width, height) => driverOf(ctx).setViewport(id, width, height)) as BrowserCommand<[id: string, width: number, height: number]>,
  screenshotTab: ((ctx, id, path) => driverOf(ctx).screenshotTab(id, path)) as BrowserCommand<[id: string, path: string]>,
  crashTab: action('crashTab'),
  killSharedWorker: action('killSharedWorker'),
  setWorkerOffline: action('setWorkerOffline'),
  busySharedWorker: action('busySharedWorker'),
  pageHeap: action('pageHeap'),
  /** Which engine-internal actions this session's driver has. */
  engineActions: ((ctx) => ENGINE_ACTIONS.filter((name) => driverOf(ctx)[name] !== undefined)) as BrowserCommand<[]>,
  /** One of the test process's environment variables (a browser test has no `process.env`). */
  env: ((_ctx, name) => process.env[name]) as BrowserCommand<[name: string]>,
  /** A port on 127.0.0.1 that nothing listens on (it was free a moment ago): a server that is down. */
  closedPort: () => freePort(),
  servePackedConsumer: () => servePackedConsumer(),
  closePackedConsumer: () => closePackedConsumer(),
}
