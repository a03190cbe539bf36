import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright'

/**
 * Chromium for the fixture apps, found as the main suite finds it (vite.config.ts), and a
 * browser context whose pages report every page error and console warning.
 */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

export async function launchChromium(): Promise<Browser> {
  const system = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((path) => path && existsSync(path))
  return chromium.launch({ executablePath: system, args: CHROMIUM_ARGS, headless: true })
}

export interface Session {
  context: BrowserContext
  open(url: string): Promise<Page>
  /** Uncaught errors of every page, and console errors. */
  errors: string[]
  /** Console warnings of every page. */
  warnings: string[]
  /** The URLs of the SharedWorkers running in this browser. */
  sharedWorkers(): Promise<string[]>
  close(): Promise<void>
}

export async function newSession(browser: Browser): Promise<Session> {
  const context = await browser.newContext()
  // A `next dev` app compiles each route on its first request: on a busy 2-core machine a first
  // navigation took more than Playwright's default 30 s (the page itself was fine).
  context.setDefaultNavigationTimeout(120_000)
  const errors: string[] = []
  const warnings: string[] = []
  const cdp = await browser.newBrowserCDPSession()
  const watch = (page: Page) => {
    page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`))
    page.on('console', (message) => {
      // The browser's own request for /favicon.ico is no page error.
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) errors.push(`${page.url()}: console.error ${message.text()} (${message.location().url})`)
      if (message.type() === 'warning') warnings.push(message.text())
    })
  }
  context.on('page', watch)
  return {
    context, errors, warnings,
    async open(url) {
      const page = await context.newPage()
      await page.goto(url)
      return page
    },
    async sharedWorkers() {
      const { targetInfos } = (await cdp.send('Target.getTargets')) as { targetInfos: Array<{ type: string; url: string }> }
      return targetInfos.filter((target) => target.type === 'shared_worker').map((target) => target.url)
    },
    async close() {
      await cdp.detach().catch(() => {})
      await context.close()
    },
  }
}

/** Polls `check` until truthy; fails naming `what` and the last error after `timeoutMs`. */
export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value as NonNullable<T>
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
