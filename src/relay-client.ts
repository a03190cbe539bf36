import * as Comlink from 'comlink'
import { failedLink, type HubConnector, type HubLink } from './connectors.ts'
import { RelayError } from './errors.ts'
import { openEventPort, type PageEventPort } from './page-event-port.ts'
import { checkHello, settingsOfPage } from './handshake.ts'
import type { HubApi, HubHello, HubStartAt, OpenedRun } from '../common/hub-wire.ts'
import type { FeedSpec, FeedSummary, RunError, RunSpec, RunSummary, SubscriptionTarget } from '../common/model.ts'
import { OpenedRuns } from './opened-runs.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'
import { moveToNewHub, type RegistryListener } from './recovery.ts'
import { RELAY_DEFAULTS, type RelayOptions, type RunHandlers, type RunRelay, type SubscribeOptions, type Unsubscribe } from './relay-types.ts'
import { guard, newSubscription, type ClientSubscription } from './client-subscription.ts'
import { holdLifeLock } from '../common/tab-lock.ts'

/**
 * The client over any hub. Every call has a deadline; a liveness ping notices a hub that
 * vanished (a killed worker), and the client then connects a new one, re-opens the runs it
 * opened and renews its subscriptions from their page cursors (`recovery.ts`).
 *
 * Its public methods are bound fields, so that an app may pass one around on its own
 * (`return relay.dispose` from an effect).
 */
export class RelayClient implements RunRelay {
  readonly clientId: string
  readonly #connect: HubConnector
  readonly #options: RelayOptions
  readonly #mode: RunRelay['mode'] | (() => RunRelay['mode'])
  readonly #onDispose: () => void
  readonly #onConnect: () => void
  readonly #timeoutMs: number
  /** Rejects each pending call; dispose() fails them all. */
  readonly #pending = new Set<(error: RelayError) => void>()
  readonly #opened = new OpenedRuns()
  readonly #feeds = new Map<string, FeedSpec>()
  readonly #subscriptions = new Set<ClientSubscription>()
  readonly #watches = new Map<RegistryListener, Promise<number>>()
  #disposed = false
  #lifeLock: ReturnType<typeof holdLifeLock> | undefined
  // Connected on first use (a call, a subscription, `ready`): a relay that is created and never
  // used (server rendering, StrictMode's discarded render) holds no worker, lock or timer.
  #linked: HubLink | undefined
  /** The handshake with the hub in use; recovery replaces it with one with the new hub. */
  #hello: Promise<HubHello> | undefined
  /**
   * Deliveries travel on an event port of the current link (src/page-event-port.ts); Comlink carries
   * the control calls and the registry snapshots. It goes to the hub once `hello` answered: `'auto'` re-sends to its
   * fallback hub only what was sent before the worker answered, and a transferred port cannot be
   * sent twice. Control calls share one port, so the hub has it before any later `subscribe`.
   */
  #events: PageEventPort | undefined
  #nextSubscription = 1
  /** Follows the registry while this client has opened runs that may still be live, to forget those that are not. */
  #stopPruning: (() => void) | undefined
  #liveness: ReturnType<typeof setInterval> | undefined
  #recovering: Promise<void> | undefined

  constructor(connect: HubConnector, options: RelayOptions = {}, mode: RunRelay['mode'] | (() => RunRelay['mode']) = 'shared-worker', onDispose = () => {}, onConnect = () => {}) {
    this.#connect = connect
    this.#options = options
    this.#mode = mode
    this.#onDispose = onDispose
    this.#onConnect = onConnect
    this.#timeoutMs = options.callTimeoutMs ?? RELAY_DEFAULTS.callTimeoutMs
    this.clientId = `${options.clientId ?? RELAY_DEFAULTS.clientId}:${crypto.randomUUID().slice(0, 8)}`
  }

  get mode(): RunRelay['mode'] {
    return typeof this.#mode === 'function' ? this.#mode() : this.#mode
  }

  get ready(): Promise<HubHello> {
    return this.#currentHello()
  }

  readonly open = async (spec: RunSpec): Promise<RunSummary> => {
    const result = await this.#afterHello('open', (hub) => hub.open(spec) as Promise<OpenedRun | RunError>)
    if ('type' in result) throw new RelayError(result.code, result.message)
    const { conflict, openNumber, ...summary } = result
    if (conflict) console.warn(`run-relay: ${conflict}`)
    this.#remember(spec, openNumber) // on a new hub, whichever tab reopens the run first sets its spec
    return summary
  }

  readonly openFeed = async (spec: FeedSpec): Promise<FeedSummary> => {
    const result = await this.#afterHello('openFeed', (hub) => hub.openFeed(spec) as Promise<FeedSummary | RunError>)
    if ('type' in result) throw new RelayError(result.code, result.message)
    this.#feeds.set(spec.feedId, spec)
    return result
  }

  readonly close = async (runId: string): Promise<void> => {
    this.#opened.delete(runId)
    await this.#afterHello('close', (hub) => hub.close(runId))
  }

  readonly closeFeed = async (feedId: string): Promise<void> => {
    this.#feeds.delete(feedId)
    await this.#afterHello('closeFeed', (hub) => hub.closeFeed(feedId))
  }

  readonly subscribe = (target: SubscriptionTarget, handlers: RunHandlers, subscribeOptions: SubscribeOptions = {}): Unsubscribe => {
    const sub = newSubscription(target, handlers, subscribeOptions)
    this.#subscriptions.add(sub)
    this.#register(sub, sub.startAt)
    const unsubscribe = (() => {
      if (!this.#subscriptions.delete(sub)) return
      sub.handlers = {} // a batch already in flight reaches nobody
      void this.#unregister(sub)
    }) as Unsubscribe
    unsubscribe.ready = sub.registered
    unsubscribe.ready.catch(() => {})
    return unsubscribe
  }

  readonly watchRuns = (listener: RegistryListener): (() => void) => {
    this.#watch(listener)
    return () => {
      const id = this.#watches.get(listener)
      this.#watches.delete(listener)
      void id?.then((watchId) => this.#call('unwatchRuns', (hub) => hub.unwatchRuns(watchId))).catch(() => {})
    }
  }

  readonly activeRun = (sessionId: string): Promise<RunSummary | undefined> => this.#afterHello('activeRun', (hub) => hub.activeRun(sessionId) as Promise<RunSummary | undefined>)

  readonly diagnostics = () => this.#afterHello('diagnostics', (hub) => hub.diagnostics())

  readonly dispose = (): void => {
    if (this.#disposed) return
    this.#disposed = true
    this.#onDispose()
    clearInterval(this.#liveness)
    this.#lifeLock?.release()
    for (const fail of [...this.#pending]) fail(new RelayError('disposed', 'The relay was disposed while this call was pending.'))
    if (!this.#linked) return // never connected: nothing to release
    // Best effort: a hub that is gone cannot answer, so the port closes after a deadline either way;
    // the deadline's timer goes as soon as the hub answers, so nothing of the relay outlives that.
    const { hub, close } = this.#linked
    let deadline: ReturnType<typeof setTimeout> | undefined
    const gone = new Promise((resolve) => (deadline = setTimeout(resolve, this.#timeoutMs)))
    void Promise.race([hub.release(), gone]).catch(() => {}).finally(() => {
      clearTimeout(deadline)
      this.#events?.close()
      close()
    })
  }

  #link(): HubLink {
    if (this.#linked) return this.#linked
    try {
      this.#linked = this.#connect()
    } catch (error) {
      this.#linked = failedLink(error instanceof RelayError ? error : new RelayError('hub_error', String(error)))
      return this.#linked
    }
    this.#lifeLock = holdLifeLock(this.clientId)
    this.#onConnect()
    this.#watchLiveness(this.#options.livenessMs ?? RELAY_DEFAULTS.livenessMs)
    return this.#linked
  }

  /** Comlink calls never settle when the other side is gone: every call gets a deadline. */
  readonly #call = <T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>): Promise<T> => {
    if (this.#disposed) return Promise.reject(new RelayError('disposed', `${what}: this relay was disposed; create a new one.`))
    const { hub, failed } = this.#link()
    const timeoutMs = this.#timeoutMs
    return new Promise<T>((resolve, reject) => {
      const fail = (error: RelayError) => {
        clearTimeout(timer)
        this.#pending.delete(fail)
        reject(error)
      }
      const timer = setTimeout(() => fail(new RelayError('timeout', `${what}: the hub did not answer within ${timeoutMs} ms.`)), timeoutMs)
      this.#pending.add(fail)
      failed?.catch(fail) // a worker whose script did not load fails every call at once, naming its URL
      // Through `then`, so that a synchronous throw (an argument that cannot be cloned) rejects too.
      Promise.resolve(hub)
        .then(invoke)
        .then(
          (value) => {
            clearTimeout(timer)
            this.#pending.delete(fail)
            resolve(value)
          },
          (error: unknown) => fail(new RelayError('hub_error', `${what} failed: ${String(error)}`)),
        )
    })
  }

  /** The hello path: the handshake with the hub in use, the first call on every link. */
  #handshake(): Promise<HubHello> {
    this.#events?.close()
    const events = (this.#events = openEventPort())
    // The lock is held before the hub hears of us, so its wait for the lock cannot win early.
    const hello = this.#call('hello', (hub) => (this.#lifeLock?.held ?? Promise.resolve()).then(() => hub.hello(this.clientId, PROTOCOL_VERSION, settingsOfPage(this.#options.hub))))
      .then((answer) => {
        checkHello(answer, this.#options.hub)
        this.#linked?.hub.events(Comlink.transfer(events.hubEnd, [events.hubEnd])).catch(() => {})
        const { headers } = this.#options
        if (headers) this.#linked?.hub.headerSource(Comlink.proxy(headers)).catch(() => {})
        return answer
      })
    // Callers who care await it; an unobserved failure is not an unhandled rejection. Outside a
    // browser no hub will ever answer: the port is closed, or it would keep Node's event loop alive.
    hello.catch((error: unknown) => {
      if (error instanceof RelayError && error.code === 'no_browser' && this.#events === events) {
        events.close()
        this.#events = undefined
      }
    })
    return hello
  }

  readonly #currentHello = (): Promise<HubHello> => (this.#hello ??= this.#handshake())

  #afterHello<T>(what: string, invoke: (hub: Comlink.Remote<HubApi>) => Promise<T>): Promise<T> {
    return this.#currentHello().then(() => this.#call(what, invoke))
  }

  /** The subscribe path: registers `sub` with the current hub under a new id of this client's choosing. */
  readonly #register = (sub: ClientSubscription, startAt: HubStartAt): void => {
    const id = `${this.clientId}/${this.#nextSubscription++}`
    sub.subscriptionId = id
    sub.registered = this.#afterHello('subscribe', (hub) => hub.subscribe(sub.target, startAt, undefined, id))
    sub.registered.catch(() => {})
    this.#events?.subscriptions.set(id, sub)
  }

  /**
   * Ends `sub`'s registration without waiting for its subscribe's answer: that answer may come
   * after the deadline (a hub busy with a flood), or never. Sent after the subscribe on the same
   * port, so the hub sees them in order; on another port the hub honours it in either order.
   */
  readonly #unregister = (sub: ClientSubscription): Promise<void> => {
    const id = sub.subscriptionId
    this.#events?.subscriptions.delete(id)
    return this.#afterHello('unsubscribe', (hub) => hub.unsubscribe(id)).catch(() => {})
  }

  readonly #watch = (listener: RegistryListener): void => {
    const sink = Comlink.proxy({ update: (runs: RunSummary[], opens: number) => this.#watches.has(listener) && guard(() => listener(runs, opens)) })
    const id = this.#afterHello('watchRuns', (hub) => hub.watchRuns(sink))
    id.catch(() => {})
    this.#watches.set(listener, id)
  }

  #remember(spec: RunSpec, openNumber: number): void {
    this.#opened.add(spec, openNumber)
    this.#stopPruning ??= this.watchRuns((runs, opens) => {
      this.#opened.update(runs, opens)
      if (this.#opened.size > 0) return
      this.#stopPruning?.()
      this.#stopPruning = undefined
    })
  }

  /** Pings the hub every `livenessMs` (0: never); a ping that times out moves the client to a new hub (`recovery.ts`). */
  #watchLiveness(livenessMs: number): void {
    if (livenessMs <= 0) return
    this.#liveness = setInterval(() => {
      if (this.#recovering || this.#disposed) return
      const pinged = this.#linked
      this.#call('ping', (hub) => hub.ping()).catch((error: RelayError) => {
        // Only a ping of the current hub counts: one that was sent to a hub already
        // replaced must not replace the new one, or every subscription would be renewed twice.
        if (error.code === 'timeout' && !this.#disposed && this.#linked === pinged) void this.#recover().catch(() => {})
      })
    }, livenessMs)
  }

  /** One recovery at a time. */
  #recover(): Promise<void> {
    this.#recovering ??= moveToNewHub({
      subscriptions: this.#subscriptions, feeds: this.#feeds, opened: this.#opened, watches: this.#watches,
      hello: this.#currentHello, call: this.#call, register: this.#register, unregister: this.#unregister, watch: this.#watch,
      replaceHub: () => {
        this.#link().close()
        this.#linked = this.#connect()
        return (this.#hello = this.#handshake())
      },
    }).finally(() => (this.#recovering = undefined))
    return this.#recovering
  }
}
