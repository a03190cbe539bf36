import { existsSync } from 'node:fs'
import { playwright } from '@vitest/browser-playwright'
import { webdriverio } from '@vitest/browser-webdriverio'
import { chromium } from 'playwright'
import type { BrowserInstanceOption } from 'vitest/node'
import { tolerateMissingBidiCommands } from './firefox-bidi-shim.ts'

/**
 * The engines the browser tests run in, one vitest browser instance each. `$ENGINES` picks them
 * (comma-separated; default `chromium`, so `npx vitest run test/x.test.ts` means one engine);
 * `npm test` runs chromium then firefox, each in its own vitest run with its own report, and
 * `npm run test:webkit` runs webkit under Xvfb (scripts/run-webkit.sh starts its driver).
 */
export type Engine = 'chromium' | 'firefox' | 'webkit'
const ENGINES: readonly Engine[] = ['chromium', 'firefox', 'webkit']

export function selectedEngines(value = process.env.ENGINES ?? 'chromium'): Engine[] {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean)
  const unknown = names.filter((name) => !ENGINES.includes(name as Engine))
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`ENGINES=${value}: use a comma-separated list of ${ENGINES.join(', ')} (for example ENGINES=chromium,firefox).`)
  }
  return names as Engine[]
}

export function engineInstance(engine: Engine): BrowserInstanceOption {
  switch (engine) {
    case 'chromium':
      return { browser: 'chromium', name: 'chromium', provider: playwright({ launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS } }) }
    case 'firefox':
      // Debian's firefox-esr over WebDriver BiDi (Playwright's own Firefox build is not on this network).
      tolerateMissingBidiCommands()
      return { browser: 'firefox', name: 'firefox', provider: playwright({ launchOptions: { channel: 'moz-firefox', executablePath: firefoxPath() } }) }
    case 'webkit':
      return webkitInstance()
  }
}

// Flags for a root user on a closed network (TOOLCHAIN.md): without them Chromium stalls on Google hosts.
// --ignore-certificate-errors: the HTTP/2 test server's certificate is self-signed (test-node/http2-plugin.ts); workers too.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--ignore-certificate-errors']

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

/** A stock Firefox (ESR 153 tested): $FIREFOX_PATH, else Debian's firefox-esr, else a `firefox` on the PATH's usual places. */
function firefoxPath(): string {
  const candidates = [process.env.FIREFOX_PATH, '/usr/bin/firefox-esr', '/usr/bin/firefox']
  const found = candidates.find((path) => path && existsSync(path))
  if (found) return found
  throw new Error('No Firefox found for ENGINES=firefox. Install one: `sudo apt-get install firefox-esr` (Debian), or set FIREFOX_PATH to a Firefox binary.')
}

/**
 * WebKitGTK's MiniBrowser through an already running WebKitWebDriver (Debian's webkit2gtk-driver),
 * under a display (Xvfb): `npm run test:webkit` starts both. vitest only knows the browser names
 * firefox/chrome/edge/safari and sends the name as given; WebKitWebDriver matches it against
 * the browser it drives, so the session request is rewritten to 'MiniBrowser'.
 */
function webkitInstance(): BrowserInstanceOption {
  const binary = process.env.MINIBROWSER_PATH || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser'
  return {
    browser: 'safari',
    name: 'webkit',
    headless: false, // the provider refuses headless for 'safari'; Xvfb is the display
    screenshotFailures: false, // its frame switching races the tab commands' window switching
    provider: webdriverio({
      hostname: '127.0.0.1',
      port: Number(process.env.WEBKIT_DRIVER_PORT || 4444), // a port given: webdriverio starts (downloads) no driver
      capabilities: { 'webkitgtk:browserOptions': { binary, args: ['--automation'] } } as WebdriverIO.Capabilities,
      transformRequest(request: RequestInit) {
        if (typeof request.body === 'string' && request.body.includes('"capabilities"')) {
          const body = JSON.parse(request.body)
          for (const caps of [body.capabilities?.alwaysMatch, ...(body.capabilities?.firstMatch ?? [])]) {
            if (!caps) continue
            if (caps.browserName === 'safari') caps.browserName = 'MiniBrowser'
            for (const key of Object.keys(caps)) if (key.startsWith('wdio:')) delete caps[key]
          }
          request.body = JSON.stringify(body)
        }
        return request
      },
    }),
  }
}
