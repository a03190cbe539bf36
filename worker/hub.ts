import type { FeedSpec, FeedSummary, RunError, RunSpec, RunSummary, StartAt, SubscriptionTarget, TransportKind } from '../src/model.ts'
import type { HubApi, OpenedRun, HubSettings, HubDiagnostics, HubHello, RegistrySink, SubscriberSink } from '../src/hub-wire.ts'
import { checkHubSettings } from './hub-settings.ts'
import { PROTOCOL_VERSION } from '../src/protocol-version.ts'
import { createEventSourceTransport } from './eventsource-transport.ts'
import { createFetchTransport } from './fetch-transport.ts'
import { browserNetwork, HUB_DEFAULTS, observedProtocol, type HubOptions } from './hub-options.ts'
import * as Comlink from 'comlink'
import { allowedConnections, budgetKey, type BudgetEntry, type WireProtocol } from './budget.ts'
import { announcedSpec, Feed, feedConnectionSpec, feedSpecProblem } from './feed.ts'
import { RegistryWatches } from './registry.ts'
import { isFinal } from './run-status.ts'
import { Run, type RunHost } from './run.ts'
import { listenedNames } from './server-contract.ts'
import { safeCall } from './safe-call.ts'
import { checkSpec, type StreamUrls } from './spec-check.ts'
import { HubSubscription, notifySubscribers } from './subscription.ts'
import type { Transport } from './transport.ts'

export { HUB_DEFAULTS, type HubOptions } from './hub-options.ts'

/**
 * The hub: holds runs (one connection each), their logs, and every
 * subscription of every client. Lives in the SharedWorker, or in the page when
 * SharedWorker is missing. Touches no `window` or `document`.
 *
 * Its jobs are split by file: `spec-check.ts` validates, `subscription.ts` delivers,
 * `budget.ts` ranks runs for connections, `registry.ts` serves the run list; this
 * file opens, joins, evicts and wires them together.
 */
export class RunHub {
  readonly hubId = crypto.randomUUID()
  readonly #options: HubOptions
  readonly #transports: Record<TransportKind, Transport>
  readonly #runs = new Map<string, Run>()
  readonly #feeds = new Map<string, Feed>()
  readonly #runHost: RunHost
  readonly #subscriptions = new Map<string, HubSubscription>()
  /** Ids unsubscribed before their subscribe arrived (it was in flight on another port); bounded, oldest dropped. */
  readonly #unsubscribedEarly = new Set<string>()
  /** How to free each subscription's sink channel (`subscribe`'s `release`). */
  readonly #sinkReleases = new Map<string, () => void>()
  readonly #registry: RegistryWatches
  readonly #evictionTimers = new Map<string, unknown>()
  readonly #clients = new Set<string>()
  #nextId = 1
  /** `open` calls handled: registry watchers compare it with an open's `openNumber` to tell an evicted run from one listed too early. */
  #opens = 0
  #protocol: WireProtocol = 'http1'
  /** Whether a page has set the hub-wide settings (the first one does). */
  #configured = false
  #networkCheck: unknown

  constructor(options: Partial<HubOptions> = {}) {
    this.#options = {
      ...structuredClone(HUB_DEFAULTS), // configure() changes these per hub
      baseUrl: globalThis.location?.href ?? 'http://localhost/',
      transports: {},
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as number),
      now: () => performance.now(),
      random: Math.random,
      network: browserNetwork,
      observedProtocol,
      ...options,
    }
    const o = this.#options
    this.#transports = {
      eventsource: o.transports.eventsource ?? createEventSourceTransport(),
      fetch: o.transports.fetch ?? createFetchTransport({ maxEventSize: o.maxEventSize }),
    }
    this.#registry = new RegistryWatches(() => ({ runs: this.#snapshot(), opens: this.#opens }), o.registryThrottleMs, { set: o.setTimeout })
    this.#runHost = {
      transport: (request, handlers) => this.#transports[request.contract.transport](request, handlers),
      limits: { maxEvents: o.maxEventsPerRun, maxBytes: o.maxBytesPerRun },
      backoff: o.backoff,
      maxRetries: o.maxRetries,
      maxEventSize: o.maxEventSize,
      silenceTimeoutMs: (spec, transport) => spec.silenceTimeoutMs ?? o.silenceTimeoutMs[transport],
      setTimeout: o.setTimeout,
      clearTimeout: o.clearTimeout,
      now: o.now,
      random: o.random,
      isOnline: () => o.network.isOnline(),
      waitForNetwork: () => this.#waitForNetwork(),
      onEvent: (run) => {
        notifySubscribers(run, (sub) => sub.eventsLogged())
        this.#registry.changed()
      },
      onTransition: (run) => this.#statusChanged(run),
      onResync: (run, hole) => notifySubscribers(run, (sub) => sub.hole(run, hole)),
    }
    o.network.onChange((online) => {
      if (online) this.#networkBack()
    })
  }

  /** The API one client (tab) talks to. Its id arrives with `hello`. */
  connect(): HubApi {
    let clientId = `anonymous-${this.#nextId++}`
    return {
      hello: (id, protocolVersion, settings): HubHello => {
        clientId = id
        this.#clients.add(id)
        this.#options.watchClient?.(id, () => this.releaseClient(id))
        void protocolVersion // the client decides about mismatches; the hub just answers
        const applied = this.configure(settings)
        if ('type' in applied) return { protocolVersion: PROTOCOL_VERSION, hubId: this.hubId, settings: this.#inForce(), settingsError: applied }
        return { protocolVersion: PROTOCOL_VERSION, hubId: this.hubId, settings: applied }
      },
      open: (spec) => this.open(spec),
      openFeed: (spec) => this.openFeed(clientId, spec),
      closeFeed: (feedId) => this.closeFeed(clientId, feedId),
      subscribe: (target, startAt, port, subscriptionId) => {
        const sink = Comlink.wrap<SubscriberSink>(port)
        // Released with its subscription: Comlink's release lets the page close its end, and closing
        // ours ends the channel (and, between tabs, its tunnel: see shared-tab.ts).
        void this.subscribe(clientId, target, startAt, sink, subscriptionId, () => {
          safeCall(() => sink[Comlink.releaseProxy]())
          port.close()
        })
      },
      unsubscribe: (id) => this.unsubscribe(id),
      close: (runId) => this.#runs.get(runId)?.closeByApp(),
      watchRuns: (sink) => this.watchRuns(clientId, sink),
      unwatchRuns: (id) => this.#registry.remove(id),
      release: () => this.releaseClient(clientId),
      ping: () => true,
      diagnostics: () => this.diagnostics(),
    }
  }

  open(spec: RunSpec): OpenedRun | RunError {
    const existing = this.#runs.get(spec.runId)
    const urls = checkSpec(spec, this.#options.baseUrl, this.#options.allowedOrigins)
    if ('type' in urls) return urls
    const openNumber = ++this.#opens
    if (existing?.status === 'failed') {
      // Opening a failed run again retries it from its cursor, with this spec: new headers after a
      // re-login, say.
      this.#options.clearTimeout(this.#evictionTimers.get(spec.runId))
      this.#evictionTimers.delete(spec.runId)
      existing.retry(structuredClone(spec), urls)
      this.#rebalance()
      return { ...existing.summary(), openNumber }
    }
    if (existing) return joined(existing, urls, openNumber)
    const run = new Run(structuredClone(spec), urls, this.#runHost, this.#nextId++)
    this.#runs.set(spec.runId, run)
    for (const sub of this.#subscriptions.values()) {
      if (sub.follows(run)) this.#attach(sub, run, 'runId' in sub.target ? sub.startAt : 'beginning')
    }
    this.#learnProtocol(this.#options.observedProtocol(urls.url.origin))
    this.#rebalance() // starts the run, or parks it when the budget is full
    return { ...run.summary(), openNumber }
  }

  /**
   * Applies a page's hub-wide settings (see `HubSettings` for the rule when tabs disagree); returns
   * those in force, or, for invalid settings, why (and applies none of them).
   */
  configure(given: HubSettings = {}): Required<HubSettings> | RunError {
    const settings = checkHubSettings(given)
    if ('type' in settings) return settings
    const o = this.#options
    for (const origin of settings.allowedOrigins ?? []) if (!o.allowedOrigins.includes(origin)) o.allowedOrigins.push(origin)
    const { allowedOrigins: _, ...rest } = settings
    if (!this.#configured && Object.keys(rest).length > 0) {
      this.#configured = true
      o.connectionBudget = { ...o.connectionBudget, ...rest.connectionBudget }
      if (rest.retentionMs !== undefined) o.retentionMs = rest.retentionMs
      if (rest.maxEventsPerRun !== undefined) this.#runHost.limits.maxEvents = o.maxEventsPerRun = rest.maxEventsPerRun
      if (rest.maxBytesPerRun !== undefined) this.#runHost.limits.maxBytes = o.maxBytesPerRun = rest.maxBytesPerRun
      this.#rebalance()
    }
    return this.#inForce()
  }

  #inForce(): Required<HubSettings> {
    const o = this.#options
    return {
      allowedOrigins: [...o.allowedOrigins], connectionBudget: { ...o.connectionBudget }, retentionMs: o.retentionMs,
      maxEventsPerRun: o.maxEventsPerRun, maxBytesPerRun: o.maxBytesPerRun,
    }
  }

  /** Opens a feed for `clientId`, or joins it: one connection for every client. */
  openFeed(clientId: string, spec: FeedSpec): FeedSummary | RunError {
    const existing = this.#feeds.get(spec?.feedId)
    if (existing) {
      existing.holders.add(clientId)
      if (existing.run.status === 'failed') {
        existing.run.retry()
        this.#rebalance()
      }
      return existing.summary()
    }
    const problem = feedSpecProblem(spec)
    if (problem) return { type: 'error', code: 'invalid_spec', message: problem }
    const connection = feedConnectionSpec(structuredClone(spec))
    const urls = checkSpec(connection, this.#options.baseUrl, this.#options.allowedOrigins)
    if ('type' in urls) return urls
    const host: RunHost = {
      ...this.#runHost,
      onEvent: (_run, seq) => this.#announced(feed, seq),
      onTransition: () => {
        this.#rebalance()
        this.#registry.changed()
      },
      onResync: () => {}, // a feed's holes are recovered by the server's re-announcements
    }
    const feed: Feed = new Feed(structuredClone(spec), new Run(connection, urls, host, this.#nextId++, { progressOnOpen: true }))
    feed.holders.add(clientId)
    this.#feeds.set(spec.feedId, feed)
    this.#rebalance()
    return feed.summary()
  }

  closeFeed(clientId: string, feedId: string): void {
    const feed = this.#feeds.get(feedId)
    if (!feed?.holders.delete(clientId) || feed.holders.size > 0) return
    feed.run.close()
    this.#feeds.delete(feedId)
    this.#rebalance()
  }

  /**
   * Returns the subscription's id: the client's choice, or one the hub picks for a caller in the
   * worker. `release` frees the sink's channel once the subscription ends.
   */
  subscribe(clientId: string, target: SubscriptionTarget, startAt: StartAt, sink: SubscriberSink, subscriptionId = `hub/${this.#nextId++}`, release = () => {}): string {
    if (this.#unsubscribedEarly.delete(subscriptionId) || this.#subscriptions.has(subscriptionId)) {
      release() // already ended by its client (or a repeat): never registered, nothing to stop later
      return subscriptionId
    }
    this.#sinkReleases.set(subscriptionId, release)
    const sub = new HubSubscription(subscriptionId, clientId, target, startAt, sink)
    this.#subscriptions.set(sub.id, sub)
    const run = 'runId' in target ? this.#runs.get(target.runId) : this.#latestRunOf(target.sessionId)
    if (run) this.#attach(sub, run, startAt)
    else if ('runId' in target) sub.waiting(target.runId)
    return sub.id
  }

  unsubscribe(subscriptionId: string): void {
    const sub = this.#subscriptions.get(subscriptionId)
    if (!sub) {
      this.#unsubscribedEarly.add(subscriptionId)
      if (this.#unsubscribedEarly.size > MAX_EARLY_UNSUBSCRIBES) this.#unsubscribedEarly.delete(this.#unsubscribedEarly.values().next().value!)
      return
    }
    this.#subscriptions.delete(subscriptionId)
    sub.close()
    this.#sinkReleases.get(subscriptionId)?.()
    this.#sinkReleases.delete(subscriptionId)
    this.#rebalance()
    this.#registry.changed()
  }

  watchRuns(clientId: string, sink: RegistrySink): number {
    const id = this.#nextId++
    this.#registry.add(id, clientId, sink)
    return id
  }

  /** Drops every subscription and watch of a client (a closed or crashed tab). */
  releaseClient(clientId: string): void {
    for (const sub of [...this.#subscriptions.values()]) if (sub.clientId === clientId) this.unsubscribe(sub.id)
    for (const feed of [...this.#feeds.values()]) this.closeFeed(clientId, feed.spec.feedId)
    this.#registry.removeClient(clientId)
    this.#clients.delete(clientId)
  }

  diagnostics(): HubDiagnostics {
    const connections: Record<string, number> = {}
    const connectionsOpened: Record<string, number> = {}
    const listening: Record<string, string[] | 'all'> = {}
    const logBytes: Record<string, number> = {}
    for (const [runId, run] of this.#runs) {
      connections[runId] = run.connected ? 1 : 0
      connectionsOpened[runId] = run.connectionsOpened
      listening[runId] = listenedNames(run.contract)
      logBytes[runId] = run.log.bytes
    }
    const subscriptionsByClient: Record<string, number> = {}
    for (const clientId of this.#clients) subscriptionsByClient[clientId] = 0
    for (const sub of this.#subscriptions.values()) subscriptionsByClient[sub.clientId] = (subscriptionsByClient[sub.clientId] ?? 0) + 1
    const feeds = [...this.#feeds.values()].map((feed) => ({ ...feed.summary(), connected: feed.run.connected, connectionsOpened: feed.run.connectionsOpened }))
    const open = [...this.#runs.values(), ...[...this.#feeds.values()].map((feed) => feed.run)].filter((run) => run.connected).length
    const budget = { protocol: this.#protocol, limit: this.#options.connectionBudget[this.#protocol], open }
    return {
      hubId: this.hubId, online: this.#options.network.isOnline(), runs: this.#snapshot(), feeds, connections, connectionsOpened, listening, logBytes, budget,
      subscriptionsByClient, clients: this.#clients.size,
    }
  }

  #latestRunOf(sessionId: string): Run | undefined {
    let latest: Run | undefined
    for (const run of this.#runs.values()) if (run.spec.sessionId === sessionId) latest = run
    return latest
  }

  #attach(sub: HubSubscription, run: Run, startAt: StartAt): void {
    run.finishedUnwatched = false
    sub.attach(run, startAt)
    this.#rebalance()
    this.#registry.changed()
  }

  /** An event on a feed: when it announces a run, open (or join) that run. */
  #announced(feed: Feed, seq: number): void {
    const { types, data } = feed.run.log.columns(feed.run.spec.runId, seq - 1, seq)
    const announcement = feed.announcementFor(types[0]!)
    if (!announcement) return
    const spec = announcedSpec(announcement, data[0]!)
    if (typeof spec === 'string') return feed.reject(spec)
    const result = this.open(spec)
    if ('type' in result) return feed.reject(result.message)
    feed.announced++
  }

  /** Gives the budget's slots to the connections that deserve them (the rule is in `budget.ts`). */
  #rebalance(): void {
    const live = new Map<string, Run>()
    const entries: BudgetEntry[] = []
    for (const { spec, run } of this.#feeds.values()) {
      if (isFinal(run.status)) continue
      entries.push({ kind: 'feed', feedId: spec.feedId, openOrder: run.openOrder })
      live.set(budgetKey(entries.at(-1)!), run)
    }
    for (const run of this.#runs.values()) {
      if (isFinal(run.status)) continue
      entries.push({ kind: 'run', runId: run.spec.runId, watched: run.subscriptions.size > 0, openOrder: run.openOrder })
      live.set(budgetKey(entries.at(-1)!), run)
    }
    const allowed = allowedConnections(entries, this.#options.connectionBudget[this.#protocol])
    // Park first, so a resumed run never pushes the total over the limit.
    for (const [key, run] of live) if (!allowed.has(key) && run.status !== 'parked') run.park()
    for (const [key, run] of live) {
      if (!allowed.has(key)) continue
      if (run.status === 'parked') run.resume()
      else run.start()
    }
  }

  #learnProtocol(protocol: WireProtocol | undefined): void {
    if (!protocol || protocol === this.#protocol) return
    this.#protocol = protocol
    this.#rebalance()
  }

  /** Called by the run with the action that changed its status: subscribers hear it in log order. */
  #statusChanged(run: Run): void {
    const { runId } = run.spec
    notifySubscribers(run, (sub) => sub.statusChanged(run))
    if (isFinal(run.status) && !this.#evictionTimers.has(runId)) {
      this.#evictionTimers.set(runId, this.#options.setTimeout(() => this.#evict(runId), run.spec.retentionMs ?? this.#options.retentionMs))
      this.#rebalance() // a slot is free
    }
    this.#registry.changed()
  }

  #evict(runId: string): void {
    const run = this.#runs.get(runId)
    this.#evictionTimers.delete(runId)
    if (!run) return
    run.close()
    this.#runs.delete(runId)
    notifySubscribers(run, (sub) => sub.detach(run))
    this.#registry.changed()
  }

  /**
   * Runs wait for the network. The `online` event brings them back; a check every
   * `networkCheckMs` covers a browser that does not send it to workers (DevTools emulation).
   */
  #waitForNetwork(): void {
    this.#networkCheck ??= this.#options.setTimeout(() => {
      this.#networkCheck = undefined
      if (this.#options.network.isOnline()) this.#networkBack()
      else this.#waitForNetwork()
    }, this.#options.networkCheckMs)
  }

  #networkBack(): void {
    this.#options.clearTimeout(this.#networkCheck)
    this.#networkCheck = undefined
    for (const run of this.#runs.values()) run.reconnectNow()
    for (const feed of this.#feeds.values()) feed.run.reconnectNow()
    this.#rebalance()
  }

  #snapshot(): RunSummary[] {
    return [...this.#runs.values()].map((run) => run.summary())
  }
}

/**
 * The answer to an open that joins a live run. The held spec wins (one connection per run, and
 * its cursor belongs to that URL); a different URL is said in `conflict`, so the page warns.
 */
function joined(run: Run, urls: StreamUrls, openNumber: number): OpenedRun {
  const summary: OpenedRun = { ...run.summary(), openNumber }
  const held = run.urls
  if (held.url.href !== urls.url.href || held.resumeUrl?.href !== urls.resumeUrl?.href) {
    const differs = held.url.href !== urls.url.href ? `url ${urls.url.href}` : `resumeUrl ${urls.resumeUrl?.href ?? '(none)'}`
    summary.conflict = `run ${run.spec.runId} is already open with url ${held.url.href}${held.resumeUrl ? ` and resumeUrl ${held.resumeUrl.href}` : ''}; this open (${differs}) joined it and its spec was ignored. The first spec wins while the run is live; give every tab the same URLs.`
  }
  return summary
}

/**
 * How many unsubscribes of ids the hub has not seen it remembers. Each stands for a subscribe
 * still in flight (a client recovering onto a new port); a stale one (an id already ended) only
 * takes a slot until newer ones push it out.
 */
const MAX_EARLY_UNSUBSCRIBES = 1024
