import * as Comlink from 'comlink'
import { RelayError } from './errors.ts'
import type { HubApi } from '../common/hub-wire.ts'
import type { RelayOptions, RunRelay } from './relay-types.ts'
import { watchClientLock } from '../common/tab-lock.ts'
import { openSharedWorker } from './worker-link.ts'

/**
 * The three ways to reach a hub (see `RelayOptions.mode`), and `'auto'`'s fallback when the
 * SharedWorker's script does not load. This is the only file that loads the in-page hub,
 * lazily: pages with SharedWorker never download it.
 */

/** One link to a hub (never called a connection: that word is the hub's to the server). `failed` rejects when this hub can never answer (its worker script did not load). */
export interface HubLink {
  hub: Comlink.Remote<HubApi>
  close(): void
  failed?: Promise<never>
}

/** A hub that can never answer: every call fails at once with `error` (no timer, no port left open). */
export function failedLink(error: RelayError): HubLink {
  const failed = Promise.reject(error) as Promise<never>
  failed.catch(() => {})
  const never = () => new Promise<never>(() => {})
  // `then` is undefined so that `Promise.resolve(hub)` takes it as a value, as with a Comlink remote.
  const hub = new Proxy({}, { get: (_target, key) => (key === 'then' ? undefined : never) }) as Comlink.Remote<HubApi>
  return { hub, close: () => {}, failed }
}

/** A way to reach a hub. The client calls it again to replace a hub that stopped answering. */
export type HubConnector = () => HubLink

/** A connector and where its hub runs now (`'auto'` may move off a worker that failed to load). */
export interface HubRoute {
  connect: HubConnector
  readonly mode: RunRelay['mode']
}

/** A raw endpoint, before Comlink wraps it. */
interface RawLink {
  endpoint: Comlink.Endpoint
  close(): void
  failed?: Promise<never>
}

interface WorkerOptions {
  name: string
  extendedLifetime: boolean
  workerUrl: RelayOptions['workerUrl']
}

/** The route to a hub for a mode and the relay's versioned name. */
export function hubRouteFor(mode: NonNullable<RelayOptions['mode']>, options: WorkerOptions): HubRoute {
  const where = resolveMode(mode)
  if (mode === 'auto' && where === 'shared-worker') return workerOrFallback(options)
  const raw = rawConnector(where, options)
  return { mode: where, connect: () => wrap(raw()) }
}

/** A page or a worker: where a hub can be reached (not Node during server rendering). */
export function inBrowser(): boolean {
  return typeof window !== 'undefined' || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined'
}

/** A mode this browser cannot serve is misuse: thrown with how to fix the call. */
export function checkMode(mode: NonNullable<RelayOptions['mode']>): void {
  if (mode === 'shared-worker' && typeof SharedWorker === 'undefined') {
    throw new RelayError('invalid_spec', "This browser has no SharedWorker; use mode: 'auto' to fall back to a hub in one of the tabs.")
  }
  if (mode === 'shared-tab' && !canShareTabs()) {
    throw new RelayError('invalid_spec', "Sharing a hub across tabs needs Web Locks and BroadcastChannel; use mode: 'auto' or 'in-page'.")
  }
}

export function canShareTabs(): boolean {
  return typeof BroadcastChannel !== 'undefined' && globalThis.navigator?.locks !== undefined
}

export function resolveMode(mode: NonNullable<RelayOptions['mode']>): RunRelay['mode'] {
  if (mode !== 'auto') return mode
  if (typeof SharedWorker !== 'undefined') return 'shared-worker'
  return fallbackMode()
}

function fallbackMode(): RunRelay['mode'] {
  return canShareTabs() ? 'shared-tab' : 'in-page'
}

function wrap(raw: RawLink): HubLink {
  return { hub: Comlink.wrap<HubApi>(raw.endpoint), close: raw.close, failed: raw.failed }
}

function rawConnector(where: RunRelay['mode'], options: WorkerOptions): () => RawLink {
  switch (where) {
    case 'shared-worker':
      return () => {
        const { port, failed, close } = openSharedWorker(options.name, options.extendedLifetime, options.workerUrl)
        return { endpoint: port, close, failed }
      }
    case 'shared-tab':
      return sharedTabConnector(options.name)
    case 'in-page':
      return () => inPageHub(options.name)
  }
}

/**
 * `'auto'` with SharedWorker: the worker, and if its script does not load, the leader-tab or
 * in-page hub, with one console warning. Until the worker first answers, what the client sent
 * is kept; on a load failure the client's endpoint moves to the fallback hub and that is sent
 * again, so the pending `hello` is answered there and nothing the page asked for is lost.
 */
function workerOrFallback(options: WorkerOptions): HubRoute {
  let fallback: { mode: RunRelay['mode']; connect: () => RawLink } | undefined
  const fallBack = (error: RelayError) => {
    if (fallback) return fallback
    const mode = fallbackMode()
    console.warn(`${error.message} Falling back to mode '${mode}' for this page.`)
    fallback = { mode, connect: rawConnector(mode, options) }
    return fallback
  }
  return {
    get mode() {
      return fallback?.mode ?? 'shared-worker'
    },
    connect() {
      if (fallback) return wrap(fallback.connect())
      const worker = openSharedWorker(options.name, options.extendedLifetime, options.workerUrl)
      const endpoint = movableEndpoint(worker.port)
      let close = worker.close
      worker.failed.catch((error: RelayError) => {
        worker.close()
        const next = fallBack(error).connect()
        close = next.close
        endpoint.moveTo(next.endpoint)
      })
      return { hub: Comlink.wrap<HubApi>(endpoint), close: () => close() }
    },
  }
}

/** An endpoint over `first` that can move to another one, re-sending what it sent before `first` answered. */
function movableEndpoint(first: MessagePort): Comlink.Endpoint & { moveTo(next: Comlink.Endpoint): void } {
  let current: Comlink.Endpoint = first
  let answered = false
  const unanswered: unknown[] = [] // only transfer-free messages (hello, ping) go out before the first answer
  const listeners: EventListenerOrEventListenerObject[] = []
  first.addEventListener('message', () => ((answered = true), (unanswered.length = 0)), { once: true })
  return {
    postMessage(data: unknown, transfer?: Transferable[]) {
      if (!answered && !transfer?.length) unanswered.push(data)
      current.postMessage(data, transfer)
    },
    addEventListener(type: string, listener: EventListenerOrEventListenerObject) {
      listeners.push(listener)
      current.addEventListener(type, listener)
    },
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject) {
      const index = listeners.indexOf(listener)
      if (index >= 0) listeners.splice(index, 1)
      current.removeEventListener(type, listener)
    },
    start: () => current.start?.(),
    moveTo(next) {
      answered = true // the one move: nothing is re-sent after it, so nothing more is kept
      for (const listener of listeners) current.removeEventListener('message', listener)
      current = next
      for (const listener of listeners) next.addEventListener('message', listener)
      next.start?.()
      for (const data of unanswered.splice(0)) next.postMessage(data)
    },
  }
}

/** The hub for the page itself, loaded on demand: pages with SharedWorker never download it. */
function loadHub(options: { watchClient?: (clientId: string, gone: () => void) => void }): Promise<{ connect(): HubApi }> {
  return import('../worker/hub.ts').then(({ RunHub }) => new RunHub(options))
}

/** The hub in a leader tab, served to the others over a BroadcastChannel; loaded only where needed. */
function sharedTabConnector(name: string): () => RawLink {
  let endpoints: Promise<() => Promise<Comlink.Endpoint>> | undefined
  return () => {
    endpoints ??= import('./shared-tab.ts').then(({ sharedTabEndpoints }) => sharedTabEndpoints(name, () => loadHub({ watchClient: watchClientLock })))
    const target = endpoints.then((next) => next())
    return { endpoint: deferred(target), close: () => void target.then((endpoint) => (endpoint as Partial<MessagePort>).close?.()) }
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

/**
 * Without SharedWorker (Android WebView, in-app browsers): one hub per page and
 * name, loaded on demand, reached over a MessageChannel so that the semantics
 * (cloning, ordering, async calls) are the same as with the worker.
 */
const inPageHubs = new Map<string, Promise<{ connect(): HubApi }>>()
function inPageHub(name: string): RawLink {
  let hub = inPageHubs.get(name)
  if (!hub) {
    hub = loadHub({})
    inPageHubs.set(name, hub)
  }
  const { port1, port2 } = new MessageChannel()
  // Messages wait in port2 until the hub module has loaded and starts listening.
  void hub.then((h) => Comlink.expose(h.connect(), port2))
  return { endpoint: port1, close: () => port1.close() }
}
