import * as Comlink from 'comlink'
import { canShareTabs, connectionFor, type HubConnector, type HubLink } from './connectors.ts'
import { RelayError } from './errors.ts'
import { OpenedRuns } from './opened-runs.ts'
import type { FeedSpec, FeedSummary, RunError, RunSpec, RunSummary, StartAt } from './model.ts'
import type { HubApi, HubHello, HubSettings, OpenedRun, SubscriberMessage, SubscriberSink } from './hub-wire.ts'
import { PROTOCOL_VERSION } from './protocol-version.ts'
import { RELAY_DEFAULTS, type RelayOptions, type RunRelay, type Unsubscribe } from './relay-types.ts'
import { decodeJson, guard, handleMessage, resumeAt, type ClientSubscription } from './subscription.ts'
import { holdLifeLock } from './tab-lock.ts'

/**
 * Connects the page to the shared hub (a SharedWorker shared by all tabs of
 * the origin). Many panes per tab may subscribe through one relay.
 *
 * @example
 * const relay = createRunRelay()
 * await relay.open({ runId: streamId, sessionId, url: `/api/chat/stream?stream_id=${encodeURIComponent(streamId)}` })
 * const stop = relay.subscribe({ sessionId }, { onEvents: (events) => render(events) })
 */
export function createRunRelay(options: RelayOptions = {}): RunRelay {
  const name = `${options.name ?? RELAY_DEFAULTS.name}@${PROTOCOL_VERSION}`
  const mode = options.mode ?? RELAY_DEFAULTS.mode
  // Server rendering and prerendering create relays too (a module-level transport, a provider):
  // there nothing is checked or connected; the relay connects on first use, in a browser.
  if (inBrowser()) checkMode(mode)
  const connection = connectionFor(mode, {
    name, extendedLifetime: options.extendedLifetime ?? RELAY_DEFAULTS.extendedLifetime, workerUrl: options.workerUrl,
  })
  const connect: HubConnector = () => {
    if (!inBrowser()) throw new RelayError('no_browser', 'run-relay connects to its hub in a browser only: call the relay from an effect or an event handler, not during server rendering.')
    checkMode(mode)
    return connection.connect()
  }
  if (!(options.disposeOnPageHide ?? RELAY_DEFAULTS.disposeOnPageHide)) return connectRelay(connect, options, () => connection.mode)
  const onPageHide = () => relay.dispose()
  // Added on first connect, removed by dispose(): a relay per view (React effects) must not leave one per relay behind.
  const relay = connectRelay(connect, options, () => connection.mode, () => globalThis.removeEventListener?.('pagehide', onPageHide),
    () => globalThis.addEventListener?.('pagehide', onPageHide, { once: true }))
  return relay
}

/** A page or a worker: where a hub can be reached (not Node during server rendering). */
function inBrowser(): boolean {
  return typeof window !== 'undefined' || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined'
}

function checkMode(mode: NonNullable<RelayOptions['mode']>): void {
  if (mode === 'shared-worker' && typeof SharedWorker === 'undefined') {
    throw new RelayError('invalid_spec', "This browser has no SharedWorker; use mode: 'auto' to fall back to a hub in one of the tabs.")
  }
  if (mode === 'shared-tab' && !canShareTabs()) {
    throw new RelayError('invalid_spec', "Sharing a hub across tabs needs Web Locks and BroadcastChannel; use mode: 'auto' or 'in-page'.")
  }
}

/**
 * The client over any hub. Every call has a deadline; a liveness ping notices a
 * hub that vanished (a killed worker), and the client then connects a new one,
 * re-opens the runs it opened and renews its subscriptions from their cursors.
 */
export function connectRelay(
  connect: HubConnector, options: RelayOptions = {}, mode: RunRelay['mode'] | (() => RunRelay['mode']) = 'shared-worker', onDispose = () => {}, onConnect = () => {},
): RunRelay {
  const timeoutMs = options.callTimeoutMs ?? RELAY_DEFAULTS.callTimeoutMs
  const livenessMs = options.livenessMs ?? RELAY_DEFAULTS.livenessMs
  const clientId = `${options.clientId ?? RELAY_DEFAULTS.clientId}:${crypto.randomUUID().slice(0, 8)}`
  let lifeLock: ReturnType<typeof holdLifeLock> | undefined
  const pending = new Set<(error: RelayError) => void>()
  const opened = new OpenedRuns()
  const feeds = new Map<string, FeedSpec>()
  const subscriptions = new Set<ClientSubscription>()
  const watches = new Map<RegistryListener, Promise<number>>()
  let disposed = false
  // Connected on first use (a call, a subscription, `ready`): a relay that is created and never
  // used (server rendering, StrictMode's discarded render) holds no worker, lock or timer.
  let linked: HubLink | undefined
  function link(): HubLink {
    if (linked) return linked
    try {
      linked = connect()
    } catch (error) {
      linked = failedLink(error instanceof RelayError ? error : new RelayError('hub_error', String(error)))
      return linked
    }
    lifeLock = holdLifeLock(clientId)
    onConnect()
    startLiveness()
    return linked
  }

  /** Comlink calls never settle when the other side is gone: every call gets a deadline. */
  function call<T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>): Promise<T> {
    if (disposed) return Promise.reject(new RelayError('disposed', `${what}: this relay was disposed; create a new one.`))
    const { hub, failed } = link()
    return new Promise<T>((resolve, reject) => {
      const fail = (error: RelayError) => {
        clearTimeout(timer)
        pending.delete(fail)
        reject(error)
      }
      const timer = setTimeout(() => fail(new RelayError('timeout', `${what}: the hub did not answer within ${timeoutMs} ms.`)), timeoutMs)
      pending.add(fail)
      failed?.catch(fail) // a worker whose script did not load fails every call at once, naming its URL
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
    const hello = call('hello', (hub) => (lifeLock?.held ?? Promise.resolve()).then(() => hub.hello(clientId, PROTOCOL_VERSION, options.hub))).then((answer) => {
      if (answer.protocolVersion !== PROTOCOL_VERSION) {
        throw new RelayError('version_mismatch', `The hub speaks protocol ${answer.protocolVersion}, this page ${PROTOCOL_VERSION}: reload the page.`)
      }
      // The hub checks the settings (worker/hub-settings.ts): invalid ones fail `ready` and every call, typed.
      if (answer.settingsError) throw new RelayError(answer.settingsError.code, answer.settingsError.message)
      warnOnSettingsConflict(options.hub, answer.settings)
      return answer
    })
    hello.catch(() => {}) // callers who care await it; an unobserved failure is not an unhandled rejection
    return hello
  }

  let ready: Promise<HubHello> | undefined
  let current: Promise<HubHello> | undefined
  const hello = (): Promise<HubHello> => (current ??= ready ??= handshake())
  const afterHello = <T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>) => hello().then(() => call(what, invoke))

  let nextSubscription = 1
  /** Registers `sub` with the current hub under a new id of this client's choosing. */
  function register(sub: ClientSubscription, startAt: StartAt): void {
    // A channel of our own rather than Comlink.proxy: the hub closes its end when the subscription
    // ends, which also ends the tunnel of a hub in another tab (shared-tab.ts).
    const { port1, port2 } = new MessageChannel()
    Comlink.expose({
      deliver(messages: SubscriberMessage[]) {
        for (const message of messages) handleMessage(message, sub)
      },
    } satisfies SubscriberSink, port1)
    const id = `${clientId}/${nextSubscription++}`
    sub.subscriptionId = id
    sub.registered = afterHello('subscribe', (hub) => hub.subscribe(sub.target, startAt, Comlink.transfer(port2, [port2]), id))
    sub.registered.catch(() => {})
  }

  /**
   * Ends `sub`'s registration without waiting for its subscribe's answer: that answer may come
   * after the deadline (a hub busy with a flood), or never. Sent after the subscribe on the same
   * port, so the hub sees them in order; on another port the hub honours it in either order.
   */
  function unregister(sub: ClientSubscription): Promise<void> {
    const id = sub.subscriptionId
    return afterHello('unsubscribe', (hub) => hub.unsubscribe(id)).catch(() => {})
  }

  function watchRuns(listener: RegistryListener): () => void {
    watch(listener)
    return () => {
      const id = watches.get(listener)
      watches.delete(listener)
      void id?.then((watchId) => call('unwatchRuns', (hub) => hub.unwatchRuns(watchId))).catch(() => {})
    }
  }

  /** Follows the registry while this client has opened runs that may still be live, to forget those that are not. */
  let stopPruning: (() => void) | undefined
  function remember(spec: RunSpec, openNumber: number): void {
    opened.add(spec, openNumber)
    stopPruning ??= watchRuns((runs, opens) => {
      opened.update(runs, opens)
      if (opened.size > 0) return
      stopPruning?.()
      stopPruning = undefined
    })
  }

  function watch(listener: RegistryListener): void {
    const sink = Comlink.proxy({ update: (runs: RunSummary[], opens: number) => watches.has(listener) && guard(() => listener(runs, opens)) })
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
      const previous = await hello().then((answer) => answer.hubId, () => undefined)
      link().close()
      linked = connect()
      current = handshake()
      const { hubId } = await current
      if (hubId === previous) {
        // The hub was only slow, and is still there: drop the old registrations before renewing them.
        for (const sub of subscriptions) await unregister(sub)
      }
      // Every tab re-opens what it opened; the new hub replays those runs from the server's journal.
      for (const spec of feeds.values()) await call('openFeed', (hub) => hub.openFeed(spec) as Promise<unknown>).catch(() => {})
      opened.newHub()
      for (const spec of opened.specs()) {
        const result = await call('open', (hub) => hub.open(spec) as Promise<OpenedRun | RunError>).catch(() => undefined)
        if (result && !('type' in result)) opened.reopened(spec.runId, result.openNumber)
      }
      // A new hub numbers events anew: each subscription resumes from its server cursor.
      for (const sub of subscriptions) register(sub, resumeAt(sub))
      for (const listener of watches.keys()) watch(listener)
    })().finally(() => (recovering = undefined))
    return recovering
  }

  let liveness: ReturnType<typeof setInterval> | undefined
  function startLiveness(): void {
    if (livenessMs <= 0) return
    liveness = setInterval(() => {
      if (recovering || disposed) return
      const pinged = linked
      call('ping', (hub) => hub.ping()).catch((error: RelayError) => {
        // Only a ping of the current hub counts: one that was sent to a hub already
        // replaced must not replace the new one, or every subscription would be renewed twice.
        if (error.code === 'timeout' && !disposed && linked === pinged) void recover().catch(() => {})
      })
    }, livenessMs)
  }

  return {
    clientId,
    get mode() {
      return typeof mode === 'function' ? mode() : mode
    },
    get ready() {
      return hello()
    },
    async open(spec) {
      const result = await afterHello('open', (hub) => hub.open(spec) as Promise<OpenedRun | RunError>)
      if ('type' in result) throw new RelayError(result.code, result.message)
      const { conflict, openNumber, ...summary } = result
      if (conflict) console.warn(`run-relay: ${conflict}`)
      remember(spec, openNumber) // on a new hub, whichever tab reopens the run first sets its spec
      return summary
    },
    async openFeed(spec) {
      const result = await afterHello('openFeed', (hub) => hub.openFeed(spec) as Promise<FeedSummary | RunError>)
      if ('type' in result) throw new RelayError(result.code, result.message)
      feeds.set(spec.feedId, spec)
      return result
    },
    async close(runId) {
      opened.delete(runId)
      await afterHello('close', (hub) => hub.close(runId))
    },
    async closeFeed(feedId) {
      feeds.delete(feedId)
      await afterHello('closeFeed', (hub) => hub.closeFeed(feedId))
    },
    subscribe(target, handlers, subscribeOptions = {}) {
      const startAt = subscribeOptions.startAt ?? 'beginning'
      const sub: ClientSubscription = {
        target, handlers, startAt,
        decode: subscribeOptions.decode === 'json' ? decodeJson : undefined,
        lastEventIds: new Map(),
        subscriptionId: '',
        registered: Promise.resolve(),
      }
      subscriptions.add(sub)
      register(sub, startAt)
      const unsubscribe = (() => {
        if (!subscriptions.delete(sub)) return
        sub.handlers = {} // a batch already in flight reaches nobody
        void unregister(sub)
      }) as Unsubscribe
      unsubscribe.ready = sub.registered
      unsubscribe.ready.catch(() => {})
      return unsubscribe
    },
    watchRuns,
    diagnostics: () => afterHello('diagnostics', (hub) => hub.diagnostics()),
    dispose() {
      if (disposed) return
      disposed = true
      onDispose()
      clearInterval(liveness)
      lifeLock?.release()
      for (const fail of [...pending]) fail(new RelayError('disposed', 'The relay was disposed while this call was pending.'))
      if (!linked) return // never connected: nothing to release
      // Best effort: a hub that is gone cannot answer, so the port closes after a deadline either way;
      // the deadline's timer goes as soon as the hub answers, so nothing of the relay outlives that.
      const { hub, close } = linked
      let deadline: ReturnType<typeof setTimeout> | undefined
      const gone = new Promise((resolve) => (deadline = setTimeout(resolve, timeoutMs)))
      void Promise.race([hub.release(), gone]).catch(() => {}).finally(() => {
        clearTimeout(deadline)
        close()
      })
    },
  }
}

/** A registry watcher: the app's gets the runs, the client's own pruning of `opened` also the hub's count of opens. */
type RegistryListener = (runs: RunSummary[], opens: number) => void

/** A hub that can never answer: every call fails at once with `error` (no timer, no port left open). */
function failedLink(error: RelayError): HubLink {
  const failed = Promise.reject(error) as Promise<never>
  failed.catch(() => {})
  const never = () => new Promise<never>(() => {})
  // `then` is undefined so that `Promise.resolve(hub)` takes it as a value, as with a Comlink remote.
  const hub = new Proxy({}, { get: (_target, key) => (key === 'then' ? undefined : never) }) as Comlink.Remote<HubApi>
  return { hub, close: () => {}, failed }
}

/** Another tab set the hub-wide settings first: say which ones are in force instead. */
function warnOnSettingsConflict(asked: HubSettings | undefined, inForce: Required<HubSettings>): void {
  if (!asked) return
  const differ: string[] = []
  for (const key of ['retentionMs', 'maxEventsPerRun', 'maxBytesPerRun'] as const) {
    if (asked[key] !== undefined && asked[key] !== inForce[key]) differ.push(key)
  }
  const budget = asked.connectionBudget ?? {}
  if ((['http1', 'http2'] as const).some((kind) => budget[kind] !== undefined && budget[kind] !== inForce.connectionBudget[kind])) differ.push('connectionBudget')
  if (differ.length > 0) {
    console.warn(`run-relay: another tab set the hub's ${differ.join(', ')} first; in force: ${JSON.stringify(inForce)}. Give every tab the same hub settings.`)
  }
}
