import * as Comlink from 'comlink'
import { RelayError } from './errors.ts'
import type {
  HubApi, HubDiagnostics, HubHello, ResyncReason, RunError, RunEvent, RunSpec, RunStatus, RunSummary, StartAt,
  SubscriberMessage, SubscriptionTarget,
} from './protocol.ts'
import { clientLockName, PROTOCOL_VERSION, watchClientLock } from './protocol-version.ts'

/** Options of `createRunRelay`. Defaults are in `RELAY_DEFAULTS`. */
export interface RelayOptions {
  /**
   * Prefix of the SharedWorker's name. Tabs with the same name (and protocol version) share one hub.
   * @defaultValue `'run-relay'`
   */
  name?: string
  /** Every call to the hub fails with a `timeout` RelayError after this long. @defaultValue 10 000 */
  callTimeoutMs?: number
  /** A readable prefix of this client's id in the hub's diagnostics; a random suffix keeps ids unique. @defaultValue `'client'` */
  clientId?: string
  /**
   * Where the hub runs. `'auto'`: a SharedWorker where the browser has one; else `'shared-tab'`:
   * in one tab, elected with Web Locks, which serves the others over a BroadcastChannel (when it
   * goes, another tab takes over); else `'in-page'`: one hub per tab. Same API and guarantees in all.
   * @defaultValue `'auto'`
   */
  mode?: 'auto' | 'shared-worker' | 'shared-tab' | 'in-page'
  /**
   * Keep the SharedWorker alive briefly after its last tab unloads (Chromium 148+), so a reload of
   * the only tab reattaches to the same hub and its connections. Ignored where unsupported.
   * @defaultValue true
   */
  extendedLifetime?: boolean
  /** Dispose the relay on `pagehide`, releasing this tab's subscriptions at once. @defaultValue true */
  disposeOnPageHide?: boolean
  /**
   * How often the client checks that its hub still answers. A hub that does not (its worker was
   * killed) is replaced: the client reconnects, re-opens its runs and renews its subscriptions
   * from their cursors. 0 turns it off.
   * @defaultValue 5000
   */
  livenessMs?: number
}

/** The defaults of `RelayOptions`, in one place. */
export const RELAY_DEFAULTS = {
  name: 'run-relay',
  callTimeoutMs: 10_000,
  clientId: 'client',
  mode: 'auto',
  extendedLifetime: true,
  disposeOnPageHide: true,
  livenessMs: 5000,
} as const satisfies RelayOptions

/** What a subscriber is told. Every handler is optional; a throwing handler affects nobody else. */
export interface RunHandlers {
  /** Events of a run, in order, each exactly once; one call per delivered batch. */
  onEvents?(events: RunEvent[], runId: string): void
  /** The run's status: sent once on subscribing, then on every change. */
  onStatus?(status: RunStatus, runId: string, error?: RunError): void
  /** Session subscriptions: the session has a (new) run; its events follow. */
  onRun?(run: RunSummary): void
  /**
   * The events delivered for this run have a hole that cannot be filled (see `ResyncReason`).
   * Events keep coming; show the gap, or rebuild the pane from the app's own history.
   */
  onResync?(runId: string, reason: ResyncReason, message: string): void
  /** Run subscriptions: the hub holds no such run yet; its events follow once some tab opens it. */
  onWaiting?(runId: string): void
}

/** Options of `relay.subscribe`. */
export interface SubscribeOptions {
  /** @defaultValue `'beginning'` */
  startAt?: StartAt
  /** `'json'`: parse each event's data into `event.json`, or say why not in `event.decodeError`. @defaultValue none: data stays a string */
  decode?: 'json'
}

/** Stops a subscription. `ready` settles when the hub has registered it. */
export interface Unsubscribe {
  (): void
  ready: Promise<void>
}

/** The page-side handle on the hub. */
export interface RunRelay {
  /** This client's unique id (the key of its subscriptions in `diagnostics()`). */
  readonly clientId: string
  /** Where the hub runs (see `RelayOptions.mode`). */
  readonly mode: 'shared-worker' | 'shared-tab' | 'in-page'
  /** Settles after the handshake; rejects with `version_mismatch` or `timeout`. */
  readonly ready: Promise<HubHello>
  /**
   * Opens a run, or joins it if any tab already did: the hub never opens a second connection for a run.
   * Opening a run that failed (say with `auth`, before the user signed in again) retries it from its cursor.
   * Rejects with a `RelayError` whose code says what was wrong (`invalid_spec`, `url_refused`, ...).
   */
  open(spec: RunSpec): Promise<RunSummary>
  /** Follows one run or a session's runs. Returns the function that stops it. */
  subscribe(target: SubscriptionTarget, handlers: RunHandlers, options?: SubscribeOptions): Unsubscribe
  /** Calls `listener` with every run the hub holds, at once and after every change. */
  watchRuns(listener: (runs: RunSummary[]) => void): () => void
  diagnostics(): Promise<HubDiagnostics>
  /** Drops this client's subscriptions and rejects pending calls with `disposed`. */
  dispose(): void
}

/**
 * Connects the page to the shared hub (a SharedWorker shared by all tabs of
 * the origin). Many panes per tab may subscribe through one relay.
 *
 * @example
 * const relay = createRunRelay()
 * await relay.open({ runId: streamId, sessionId, url: `/api/chat/stream?stream_id=${streamId}` })
 * const stop = relay.subscribe({ sessionId }, { onEvents: (events) => render(events) })
 */
export function createRunRelay(options: RelayOptions = {}): RunRelay {
  const name = `${options.name ?? RELAY_DEFAULTS.name}@${PROTOCOL_VERSION}`
  const mode = options.mode ?? RELAY_DEFAULTS.mode
  if (mode === 'shared-worker' && typeof SharedWorker === 'undefined') {
    throw new RelayError('invalid_spec', "This browser has no SharedWorker; use mode: 'auto' to fall back to a hub in one of the tabs.")
  }
  if (mode === 'shared-tab' && !canShareTabs()) {
    throw new RelayError('invalid_spec', "Sharing a hub across tabs needs Web Locks and BroadcastChannel; use mode: 'auto' or 'in-page'.")
  }
  const where = resolveMode(mode)
  const extendedLifetime = options.extendedLifetime ?? RELAY_DEFAULTS.extendedLifetime
  const connector: Record<RunRelay['mode'], () => HubConnector> = {
    'shared-worker': () => () => sharedWorkerHub(name, extendedLifetime),
    'shared-tab': () => sharedTabConnector(name),
    'in-page': () => () => inPageHub(name),
  }
  const relay = connectRelay(connector[where](), options, where)
  if (options.disposeOnPageHide ?? RELAY_DEFAULTS.disposeOnPageHide) {
    globalThis.addEventListener?.('pagehide', () => relay.dispose(), { once: true })
  }
  return relay
}

function canShareTabs(): boolean {
  return typeof BroadcastChannel !== 'undefined' && globalThis.navigator?.locks !== undefined
}

function resolveMode(mode: NonNullable<RelayOptions['mode']>): RunRelay['mode'] {
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

/** A way to reach a hub. The client calls it again to replace a hub that stopped answering. */
export type HubConnector = () => { hub: Comlink.Remote<HubApi>; close(): void }

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

/** What the client keeps of one subscription, so it can be renewed on a new hub. */
interface ClientSubscription {
  target: SubscriptionTarget
  handlers: RunHandlers
  startAt: StartAt
  decode?: (event: RunEvent) => void
  /** The last server event id delivered per run: the cursor to resume from on a new hub. */
  lastEventIds: Map<string, string>
  /** The last hub seq delivered per run (a second line of defence for "exactly once"). Reset with the hub. */
  delivered: Map<string, number>
  /** Its id in the current hub. */
  hubId: Promise<number>
}

/**
 * The client over any hub. Every call has a deadline; a liveness ping notices a
 * hub that vanished (a killed worker), and the client then connects a new one,
 * re-opens the runs it opened and renews its subscriptions from their cursors.
 */
export function connectRelay(connect: HubConnector, options: RelayOptions = {}, mode: RunRelay['mode'] = 'shared-worker'): RunRelay {
  const timeoutMs = options.callTimeoutMs ?? RELAY_DEFAULTS.callTimeoutMs
  const livenessMs = options.livenessMs ?? RELAY_DEFAULTS.livenessMs
  const clientId = `${options.clientId ?? RELAY_DEFAULTS.clientId}:${crypto.randomUUID().slice(0, 8)}`
  const lifeLock = holdLifeLock(clientId)
  const pending = new Set<(error: RelayError) => void>()
  const opened = new Map<string, RunSpec>()
  const subscriptions = new Set<ClientSubscription>()
  const watches = new Map<(runs: RunSummary[]) => void, Promise<number>>()
  let endpoint = connect()
  let disposed = false

  /** Comlink calls never settle when the other side is gone: every call gets a deadline. */
  function call<T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>): Promise<T> {
    if (disposed) return Promise.reject(new RelayError('disposed', `${what}: this relay was disposed; create a new one.`))
    const { hub } = endpoint
    return new Promise<T>((resolve, reject) => {
      const fail = (error: RelayError) => {
        clearTimeout(timer)
        pending.delete(fail)
        reject(error)
      }
      const timer = setTimeout(() => fail(new RelayError('timeout', `${what}: the hub did not answer within ${timeoutMs} ms.`)), timeoutMs)
      pending.add(fail)
      // Through `then`, so that a synchronous throw (an argument that cannot be cloned) rejects too.
      Promise.resolve(hub)
        .then(invoke)
        .then(
          (value) => {
            clearTimeout(timer)
            pending.delete(fail)
            resolve(value)
          },
          (error: unknown) => fail(new RelayError('hub_error', `${what} failed: ${String(error)}`)),
        )
    })
  }

  function handshake(): Promise<HubHello> {
    // The lock is held before the hub hears of us, so its wait for the lock cannot win early.
    const hello = call('hello', (hub) => lifeLock.held.then(() => hub.hello(clientId, PROTOCOL_VERSION))).then((answer) => {
      if (answer.protocolVersion !== PROTOCOL_VERSION) {
        throw new RelayError('version_mismatch', `The hub speaks protocol ${answer.protocolVersion}, this page ${PROTOCOL_VERSION}: reload the page.`)
      }
      return answer
    })
    hello.catch(() => {}) // callers who care await it; an unobserved failure is not an unhandled rejection
    return hello
  }

  const ready = handshake()
  let current = ready
  const afterHello = <T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>) => current.then(() => call(what, invoke))

  function register(sub: ClientSubscription, startAt: StartAt): void {
    const sink = Comlink.proxy({
      deliver(messages: SubscriberMessage[]) {
        for (const message of messages) dispatch(message, sub)
      },
    })
    sub.hubId = afterHello('subscribe', (hub) => hub.subscribe(sub.target, startAt, sink))
    sub.hubId.catch(() => {})
  }

  function watch(listener: (runs: RunSummary[]) => void): void {
    const sink = Comlink.proxy({ update: (runs: RunSummary[]) => watches.has(listener) && guard(() => listener(runs)) })
    const id = afterHello('watchRuns', (hub) => hub.watchRuns(sink))
    id.catch(() => {})
    watches.set(listener, id)
  }

  /** The hub stopped answering: connect a new one and carry this client's state over to it. */
  let recovering: Promise<void> | undefined
  function recover(): Promise<void> {
    recovering ??= (async () => {
      for (const sub of subscriptions) {
        for (const runId of sub.lastEventIds.keys()) guard(() => sub.handlers.onStatus?.('reconnecting', runId))
      }
      endpoint.close()
      endpoint = connect()
      current = handshake()
      await current
      // Every tab re-opens what it opened; the new hub replays those runs from the server's journal.
      for (const spec of opened.values()) await call('open', (hub) => hub.open(spec) as Promise<unknown>).catch(() => {})
      for (const sub of subscriptions) {
        sub.delivered.clear() // a new hub numbers events anew; the server cursor below prevents doubles
        register(sub, resumeAt(sub))
      }
      for (const listener of watches.keys()) watch(listener)
    })().finally(() => (recovering = undefined))
    return recovering
  }

  const liveness = livenessMs > 0
    ? setInterval(() => {
        if (recovering || disposed) return
        call('ping', (hub) => hub.ping()).catch((error: RelayError) => {
          if (error.code === 'timeout' && !disposed) void recover().catch(() => {})
        })
      }, livenessMs)
    : undefined

  return {
    clientId,
    mode,
    ready,
    async open(spec) {
      const result = await afterHello('open', (hub) => hub.open(spec) as Promise<RunSummary | RunError>)
      if ('type' in result) throw new RelayError(result.code, result.message)
      opened.set(spec.runId, spec)
      return result
    },
    subscribe(target, handlers, subscribeOptions = {}) {
      const startAt = subscribeOptions.startAt ?? 'beginning'
      const sub: ClientSubscription = {
        target, handlers, startAt,
        decode: subscribeOptions.decode === 'json' ? decodeJson : undefined,
        lastEventIds: new Map(),
        delivered: new Map(),
        hubId: Promise.resolve(0),
      }
      subscriptions.add(sub)
      register(sub, startAt)
      const unsubscribe = (() => {
        if (!subscriptions.delete(sub)) return
        sub.handlers = {} // a batch already in flight reaches nobody
        void sub.hubId.then((id) => call('unsubscribe', (hub) => hub.unsubscribe(id))).catch(() => {})
      }) as Unsubscribe
      unsubscribe.ready = sub.hubId.then(() => {})
      unsubscribe.ready.catch(() => {})
      return unsubscribe
    },
    watchRuns(listener) {
      watch(listener)
      return () => {
        const id = watches.get(listener)
        watches.delete(listener)
        void id?.then((watchId) => call('unwatchRuns', (hub) => hub.unwatchRuns(watchId))).catch(() => {})
      }
    },
    diagnostics: () => afterHello('diagnostics', (hub) => hub.diagnostics()),
    dispose() {
      if (disposed) return
      disposed = true
      clearInterval(liveness)
      lifeLock.release()
      for (const fail of [...pending]) fail(new RelayError('disposed', 'The relay was disposed while this call was pending.'))
      // Best effort: a hub that is gone cannot answer, so the port closes after a deadline either way.
      const { hub, close } = endpoint
      const deadline = new Promise((resolve) => setTimeout(resolve, timeoutMs))
      void Promise.race([hub.release(), deadline]).catch(() => {}).finally(close)
    },
  }
}

/** Where a renewed subscription starts on a new hub: after the last event it got, by server id. */
function resumeAt(sub: ClientSubscription): StartAt {
  const runIds = [...sub.lastEventIds.keys()]
  const runId = 'runId' in sub.target ? sub.target.runId : runIds.at(-1)
  const afterEventId = runId === undefined ? undefined : sub.lastEventIds.get(runId)
  if (afterEventId !== undefined) return { afterEventId, runId }
  // Nothing with an id arrived yet: a hub seq means nothing to the new hub.
  return typeof sub.startAt === 'object' ? 'beginning' : sub.startAt
}

/**
 * Holds the Web Lock named after this client until `release()`. The browser
 * releases it when the tab closes or crashes, and the hub, waiting for it,
 * learns the tab is gone (a MessagePort has no close event).
 */
function holdLifeLock(clientId: string): { held: Promise<void>; release: () => void } {
  let release = () => {}
  const locks = globalThis.navigator?.locks
  if (!locks) return { held: Promise.resolve(), release }
  const released = new Promise<void>((resolve) => (release = resolve))
  const held = new Promise<void>((resolve) => void locks.request(clientLockName(clientId), () => (resolve(), released)))
  return { held, release }
}

/**
 * Hands one message to a subscription's handlers, keeping its cursors.
 * `delivered` is a second line of defence for "each exactly once".
 */
function dispatch(message: SubscriberMessage, sub: ClientSubscription): void {
  const { handlers } = sub
  switch (message.type) {
    case 'run':
      return guard(() => handlers.onRun?.(message.run))
    case 'waiting':
      return guard(() => handlers.onWaiting?.(message.runId))
    case 'events': {
      const last = sub.delivered.get(message.runId) ?? 0
      const fresh = message.events.filter((event) => event.seq > last)
      if (fresh.length === 0) return
      sub.delivered.set(message.runId, fresh.at(-1)!.seq)
      const lastId = fresh.findLast((event) => event.id !== undefined)?.id
      if (lastId !== undefined) {
        sub.lastEventIds.delete(message.runId) // keep the most recent run last
        sub.lastEventIds.set(message.runId, lastId)
      }
      if (sub.decode) fresh.forEach(sub.decode)
      return guard(() => handlers.onEvents?.(fresh, message.runId))
    }
    case 'status':
      return guard(() => handlers.onStatus?.(message.status, message.runId, message.error))
    case 'resync':
      return guard(() => handlers.onResync?.(message.runId, message.reason, message.message))
    default:
      return assertNever(message)
  }
}

/** Decoding errors travel as data on the event, never as an exception. */
function decodeJson(event: RunEvent): void {
  try {
    event.json = JSON.parse(event.data)
  } catch (error) {
    event.decodeError = `${event.type} #${event.seq}: ${(error as Error).message}`
  }
}

/** A subscriber's own exception is reported, never allowed to stop delivery. */
function guard(run: () => unknown): void {
  try {
    run()
  } catch (error) {
    globalThis.reportError?.(error)
  }
}

function assertNever(value: never): never {
  throw new Error(`Unhandled message: ${JSON.stringify(value)}`)
}
