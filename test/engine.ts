import * as Comlink from 'comlink'
import { onTestFinished } from 'vitest'
import { commands, server } from 'vitest/browser'
import { RelayClient } from '../src/relay-client.ts'
import { createRunRelay, PROTOCOL_VERSION, type RelayOptions, type RunRelay } from '../src/index.ts'
import type { HubApi } from '../common/hub-wire.ts'
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

/**
 * A relay whose hub can be ended as a crash would end it, in every engine: Chromium kills the
 * library's own SharedWorker over the DevTools protocol; no other engine can kill one from outside,
 * so there the relay runs the same hub in test/fixtures/closable-hub.ts, which closes itself on
 * request. Disposed when the test ends.
 */
export async function killableRelay(name: string, options: Pick<RelayOptions, 'livenessMs' | 'callTimeoutMs'>): Promise<{ relay: RunRelay; kill(): Promise<void> }> {
  if (await engineCan('killSharedWorker')) {
    const relay = createRunRelay({ name, ...options })
    onTestFinished(() => relay.dispose())
    return { relay, kill: () => commands.killSharedWorker(`${name}@${PROTOCOL_VERSION}`) }
  }
  const relay = new RelayClient(() => {
    const worker = new SharedWorker(new URL('./fixtures/closable-hub.ts', import.meta.url), { type: 'module', name })
    return { hub: Comlink.wrap<HubApi>(worker.port), close: () => worker.port.close() }
  }, options)
  onTestFinished(() => relay.dispose())
  return { relay, kill: async () => new BroadcastChannel(`close-worker:${name}`).postMessage('close') }
}
