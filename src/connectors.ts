import * as Comlink from 'comlink'
import type { HubApi } from './protocol.ts'
import type { RelayOptions, RunRelay } from './relay-types.ts'
import { watchClientLock } from './tab-lock.ts'

/**
 * The three ways to reach a hub (see `RelayOptions.mode`). This is the only file that
 * loads the in-page hub, lazily: pages with SharedWorker never download it.
 */

/** A way to reach a hub. The client calls it again to replace a hub that stopped answering. */
export type HubConnector = () => { hub: Comlink.Remote<HubApi>; close(): void }

/** The connector for a mode and the relay's versioned name. */
export function connectorFor(where: RunRelay['mode'], name: string, extendedLifetime: boolean): HubConnector {
  switch (where) {
    case 'shared-worker':
      return () => sharedWorkerHub(name, extendedLifetime)
    case 'shared-tab':
      return sharedTabConnector(name)
    case 'in-page':
      return () => inPageHub(name)
  }
}

export function canShareTabs(): boolean {
  return typeof BroadcastChannel !== 'undefined' && globalThis.navigator?.locks !== undefined
}

export function resolveMode(mode: NonNullable<RelayOptions['mode']>): RunRelay['mode'] {
  if (mode !== 'auto') return mode
  if (typeof SharedWorker !== 'undefined') return 'shared-worker'
  return canShareTabs() ? 'shared-tab' : 'in-page'
}

/** The hub for the page itself, loaded on demand: pages with SharedWorker never download it. */
function loadHub(options: { watchClient?: (clientId: string, gone: () => void) => void }): Promise<{ connect(): HubApi }> {
  return import('../worker/hub.ts').then(({ RunHub }) => new RunHub(options))
}

/** The hub in a leader tab, served to the others over a BroadcastChannel; loaded only where needed. */
function sharedTabConnector(name: string): HubConnector {
  const endpoints = import('./shared-tab.ts').then(({ sharedTabEndpoints }) => sharedTabEndpoints(name, () => loadHub({ watchClient: watchClientLock })))
  return () => {
    const target = endpoints.then((next) => next())
    return { hub: Comlink.wrap<HubApi>(deferred(target)), close: () => void target.then((endpoint) => (endpoint as Partial<MessagePort>).close?.()) }
  }
}

/** An endpoint usable at once, whose messages and listeners wait until the real one is known. */
function deferred(target: Promise<Comlink.Endpoint>): Comlink.Endpoint {
  let ready: Comlink.Endpoint | undefined
  const waiting: Array<(endpoint: Comlink.Endpoint) => void> = []
  void target.then((endpoint) => {
    ready = endpoint
    for (const operation of waiting.splice(0)) operation(endpoint)
    endpoint.start?.()
  })
  const run = (operation: (endpoint: Comlink.Endpoint) => void) => (ready ? operation(ready) : void waiting.push(operation))
  return {
    postMessage: (data: unknown, transfer?: Transferable[]) => run((endpoint) => endpoint.postMessage(data, transfer)),
    addEventListener: (type: string, listener: EventListenerOrEventListenerObject) => run((endpoint) => endpoint.addEventListener(type, listener)),
    removeEventListener: (type: string, listener: EventListenerOrEventListenerObject) => run((endpoint) => endpoint.removeEventListener(type, listener)),
  }
}

function sharedWorkerHub(name: string, extendedLifetime: boolean): ReturnType<HubConnector> {
  // [vite] The worker must be written inline in this form for Vite to bundle it, with a
  // literal options object (no spread), hence two call sites.
  const worker = extendedLifetime
    ? new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name, extendedLifetime: true })
    : new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name })
  return { hub: Comlink.wrap<HubApi>(worker.port), close: () => worker.port.close() }
}

/**
 * Without SharedWorker (Android WebView, in-app browsers): one hub per page and
 * name, loaded on demand, reached over a MessageChannel so that the semantics
 * (cloning, ordering, async calls) are the same as with the worker.
 */
const inPageHubs = new Map<string, Promise<{ connect(): HubApi }>>()
function inPageHub(name: string): ReturnType<HubConnector> {
  let hub = inPageHubs.get(name)
  if (!hub) {
    hub = loadHub({})
    inPageHubs.set(name, hub)
  }
  const { port1, port2 } = new MessageChannel()
  // Messages wait in port2 until the hub module has loaded and starts listening.
  void hub.then((h) => Comlink.expose(h.connect(), port2))
  return { hub: Comlink.wrap<HubApi>(port1), close: () => port1.close() }
}
