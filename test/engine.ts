import { commands, server } from 'vitest/browser'
import type { EngineAction } from './engines/tab-driver.ts'

/**
 * The engine a browser test runs in, and what it can do from outside. Tests that need an
 * engine-internal action ask `engineCan` and take the equivalent the issue list names:
 * closing instead of crashing a tab, a worker that closes itself instead of a killed one,
 * a server-side network cut instead of offline emulation. A test without an equivalent
 * says "Chromium only" and why in its name.
 */
export type EngineName = 'chromium' | 'firefox' | 'webkit'

/** vitest names WebKit 'safari' (its webdriverio browser list); this project drives WebKitGTK. */
export const engine: EngineName = server.browser === 'safari' ? 'webkit' : (server.browser as EngineName)

let actions: Promise<EngineAction[]> | undefined
export async function engineCan(name: EngineAction): Promise<boolean> {
  actions ??= commands.engineActions()
  return (await actions).includes(name)
}

/**
 * Connections a fetch run that ends by closing opens beyond the server's own count: in WebKit a
 * cut looks like a clean end (worker/engine-facts.ts), so the hub confirms each such end with one
 * more connection that brings nothing new.
 */
export const fetchEndConfirmations = engine === 'webkit' ? 1 : 0
