import type { FeedSpec, FeedSummary, RunError, RunSpec, RunStatus, RunSummary, SubscriptionTarget, TransportKind } from '../common/model.ts'
import type { HeaderSource, HubApi, HubStartAt, OpenOptions, OpenedRun, HubSettings, HubDiagnostics, HubHello, RegistrySink, SubscriberSink } from '../common/hub-wire.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'
import { comlinkSink, HubEventPort } from './hub-event-port.ts'
import type { ServerConnectionEnv } from './server-connection.ts'
import { hubDiagnostics } from './diagnostics.ts'
import { createEventSourceTransport } from './eventsource-transport.ts'
import { Feed, resolveFeed } from './feed.ts'
import { createFetchTransport } from './fetch-transport.ts'
import { BudgetKeeper } from './hub-budget.ts'
import { hubOptionsWith, STREAM_DEFAULTS, type HubOptions } from './hub-options.ts'
import { applyHubSettings, settingsInForce } from './hub-settings.ts'
import { NetworkWatch } from './network-watch.ts'
import { RegistryWatches } from './registry.ts'
import { resolveRun } from './resolve-run.ts'
import { isFinal } from '../common/run-status.ts'
import { Run } from './run.ts'
import type { StreamUrls } from './spec-check.ts'
import { HubSubscription } from './hub-subscription.ts'
import type { Transport } from './transport.ts'

export { HUB_DEFAULTS, type HubOptions } from './hub-options.ts'

/**
 * The hub: holds runs (one connection each), their logs, and every
 * subscription of every client. Lives in the SharedWorker, or in the page when
 * SharedWorker is missing. Touches no `window` or `document`.
 *
 * Its jobs are split by file (see worker/README.md): `resolve-run.ts` checks and resolves a
 * spec, `hub-subscription.ts` delivers, `hub-budget.ts` hands out connections, `network-watch.ts`
 * waits for the network, `registry.ts` serves the run list, `diagnostics.ts` reports; this file
 * opens, joins and evicts, and wires them together. It is not on the path of an event: a run
 * tells its subscriptions itself; the hub listens only for transitions (eviction, the budget).
 */
export class RunHub {
  readonly hubId = crypto.randomUUID()
  readonly #options: HubOptions
  readonly #transports: Record<TransportKind, Transport>
  readonly #runs = new Map<string, Run>()
  readonly #feeds = new Map<string, Feed>()
  readonly #env: ServerConnectionEnv
  readonly #budget: BudgetKeeper
  readonly #network: NetworkWatch
  readonly #subscriptions = new Map<string, HubSubscription>()
  /** Ids unsubscribed before their subscribe arrived (it was in flight on another port); bounded, oldest dropped. */
  readonly #unsubscribedEarly = new Set<string>()
  /** How to free each subscription's sink channel (`subscribe`'s `release`). */
  readonly #sinkReleases = new Map<string, () => void>()
  readonly #registry: RegistryWatches
  readonly #evictionTimers = new Map<string, unknown>()
  readonly #clients = new Set<string>()
  /** Each client's source of fresh headers (`HubApi.headerSource`), asked before a run's reconnect. */
  readonly #headerSources = new Map<string, HeaderSource>()
  /** The clients that opened each run: asked for its headers after its subscribers. */
  readonly #openers = new Map<string, Set<string>>()
  #nextId = 1
  /** `open` calls handled: registry watchers compare it with an open's `openNumber` to tell an evicted run from one listed too early. */
  #opens = 0
  /** Whether a page has set the hub-wide settings (the first one does). */
  #configured = false

  constructor(options: Partial<HubOptions> = {}) {
    this.#options = hubOptionsWith(options)
    const o = this.#options
    this.#transports = {
      eventsource: o.transports.eventsource ?? createEventSourceTransport(),
      fetch: o.transports.fetch ?? createFetchTransport(),
    }
    this.#registry = new RegistryWatches(() => ({ runs: [...this.#runs.values()].map((run) => run.summary()), opens: this.#opens }), o.registryThrottleMs, { set: o.setTimeout })
    this.#budget = new BudgetKeeper(() => o.connectionBudget, () => this.#runs.values(), () => this.#feeds.values(), {
      now: o.now, setTimeout: o.setTimeout, abortCooldownMs: () => o.abortCooldownMs, http2Origins: () => o.http2Origins, observedProtocol: o.observedProtocol,
    })
    // A stream that ended, or any response, may show an origin's protocol: the limit is looked at again.
    o.onResponses(() => this.#budget.rebalance())
    this.#network = new NetworkWatch(o, () => {
      for (const run of this.#runs.values()) run.reconnectNow()
      for (const feed of this.#feeds.values()) feed.reconnectNow()
      this.#budget.rebalance()
    })
    const { setTimeout, clearTimeout, now, random } = o
    const transport: Transport = (request, handlers) => this.#transports[request.transport](request, handlers)
    const network = this.#network
    const budget = this.#budget
    this.#env = {
      transport, setTimeout, clearTimeout, now, random, isOnline: () => network.isOnline(), waitForNetwork: () => network.waitForNetwork(), aborted: () => budget.aborted(),
      freshHeaders: (runId) => this.#freshHeaders(runId),
      canRefreshHeaders: (runId) => this.#headerAskers(runId).length > 0,
    }
  }

  /** The API one client (tab) talks to. Its id arrives with `hello`. */
  connect(): HubApi {
    let clientId = `anonymous-${this.#nextId++}`
    // Deliveries go on the client's event port (worker/hub-event-port.ts); closing it ends what it carries.
    let events: HubEventPort | undefined
    return {
      hello: (id, protocolVersion, settings): HubHello => {
        clientId = id
        this.#clients.add(id)
        this.#options.watchClient?.(id, () => this.releaseClient(id))
        void protocolVersion // the client decides about mismatches; the hub just answers
        const applied = this.configure(settings)
        if ('type' in applied) return { protocolVersion: PROTOCOL_VERSION, hubId: this.hubId, settings: settingsInForce(this.#options), settingsError: applied }
        return { protocolVersion: PROTOCOL_VERSION, hubId: this.hubId, settings: applied }
      },
      open: (spec, options) => {
        const result = this.open(spec, options)
        if (!('type' in result)) this.#openers.set(spec.runId, (this.#openers.get(spec.runId) ?? new Set()).add(clientId))
        return result
      },
      headerSource: (source) => void this.#headerSources.set(clientId, source),
      openFeed: (spec) => this.openFeed(clientId, spec),
      closeFeed: (feedId) => this.closeFeed(clientId, feedId),
      events: (port) => {
        events = new HubEventPort(port, (ids) => ids.forEach((id) => this.unsubscribe(id)))
      },
      subscribe: (target, startAt, port, subscriptionId) => {
        if (!port && !events) throw new Error('subscribe: no sink port, and no event port yet: call events(port) after hello first.')
        const { sink, release } = port ? comlinkSink(port) : events!.sink(subscriptionId)
        void this.subscribe(clientId, target, startAt, sink, subscriptionId, release)
      },
      unsubscribe: (id) => this.unsubscribe(id),
      close: (runId) => this.#runs.get(runId)?.closeByApp(),
      watchRuns: (sink) => this.watchRuns(clientId, sink),
      unwatchRuns: (id) => this.#registry.remove(id),
      release: () => this.releaseClient(clientId),
      ping: () => true,
      activeRun: (sessionId) => this.activeRun(sessionId),
      diagnostics: () => this.diagnostics(),
    }
  }

  open(spec: RunSpec, options: OpenOptions = {}): OpenedRun | RunError {
    const existing = this.#runs.get(spec.runId)
    const resolved = resolveRun(spec, this.#options, this.#options.baseUrl)
    if ('type' in resolved) return resolved
    const openNumber = ++this.#opens
    if (existing?.status === 'failed') {
      // Opening a failed run again retries it from its cursor, with this spec: new headers after a
      // re-login, say.
      this.#options.clearTimeout(this.#evictionTimers.get(spec.runId))
      this.#evictionTimers.delete(spec.runId)
      existing.retry({ ...resolved, spec: structuredClone(resolved.spec) })
      this.#budget.rebalance()
      return { ...existing.summary(), openNumber }
    }
    if (existing) return joined(existing, resolved.urls, openNumber)
    const run = new Run({ ...resolved, spec: structuredClone(resolved.spec) }, this.#env, this.#nextId++, options.resumed === true)
    run.observe((notice) => notice.type === 'transition' && this.#statusChanged(run, notice.state.status))
    run.observe(this.#registry.listener)
    this.#runs.set(spec.runId, run)
    if (isFinal(run.status)) this.#statusChanged(run, run.status) // a resumed run that cannot resume fails at once
    for (const sub of this.#subscriptions.values()) {
      if (sub.follows(run)) this.#attach(sub, run, 'runId' in sub.target ? sub.startAt : 'beginning')
    }
    this.#budget.rebalance() // starts the run, or parks it when the budget is full
    return { ...run.summary(), openNumber }
  }

  /**
   * Applies a page's hub-wide settings (see `HubSettings` for the rule when tabs disagree); returns
   * those in force, or, for invalid settings, why (and applies none of them).
   */
  configure(given: HubSettings = {}): Required<HubSettings> | RunError {
    const applied = applyHubSettings(this.#options, given, !this.#configured)
    if ('type' in applied) return applied
    if (applied.changed) {
      this.#configured = true
      this.#budget.rebalance()
    }
    return settingsInForce(this.#options)
  }

  /** Opens a feed for `clientId`, or joins it: one connection for every client. */
  openFeed(clientId: string, spec: FeedSpec): FeedSummary | RunError {
    const existing = this.#feeds.get(spec?.feedId)
    if (existing) {
      existing.holders.add(clientId)
      if (existing.status === 'failed') {
        existing.retry()
        this.#budget.rebalance()
      }
      return existing.summary()
    }
    const stream = resolveFeed(spec, this.#options, this.#options.baseUrl)
    if ('type' in stream) return stream
    const feed = new Feed(structuredClone(spec), stream, this.#env, this.#nextId++)
    feed.subscribe((notice) => {
      if (notice.type === 'announcement') return this.#announced(feed, notice.spec)
      this.#budget.rebalance()
      this.#registry.changed()
    })
    feed.holders.add(clientId)
    this.#feeds.set(spec.feedId, feed)
    this.#budget.rebalance()
    return feed.summary()
  }

  closeFeed(clientId: string, feedId: string): void {
    const feed = this.#feeds.get(feedId)
    if (!feed?.holders.delete(clientId) || feed.holders.size > 0) return
    feed.close()
    this.#feeds.delete(feedId)
    this.#budget.rebalance()
  }

  /**
   * Returns the subscription's id: the client's choice, or one the hub picks for a caller in the
   * worker. `release` frees the sink's channel once the subscription ends.
   */
  subscribe(clientId: string, target: SubscriptionTarget, startAt: HubStartAt, sink: SubscriberSink, subscriptionId = `hub/${this.#nextId++}`, release = () => {}): string {
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
      if (this.#unsubscribedEarly.size > STREAM_DEFAULTS.maxEarlyUnsubscribes) this.#unsubscribedEarly.delete(this.#unsubscribedEarly.values().next().value!)
      return
    }
    this.#subscriptions.delete(subscriptionId)
    sub.close()
    this.#sinkReleases.get(subscriptionId)?.()
    this.#sinkReleases.delete(subscriptionId)
    this.#budget.rebalance()
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
    this.#headerSources.delete(clientId)
  }

  /** The latest run of `sessionId` (in open order) that has neither ended nor failed; undefined when none. */
  activeRun(sessionId: string): RunSummary | undefined {
    let active: Run | undefined
    for (const run of this.#runs.values()) if (run.spec.sessionId === sessionId && !isFinal(run.status)) active = run
    return active?.summary()
  }

  diagnostics(): HubDiagnostics {
    return hubDiagnostics({
      hubId: this.hubId, online: this.#network.isOnline(), runs: this.#runs, feeds: this.#feeds, subscriptions: this.#subscriptions,
      clients: this.#clients, budget: this.#budget,
    })
  }

  /** Clients with a header source that follow a run (subscribers first, then its openers), live ones only. */
  #headerAskers(runId: string): HeaderSource[] {
    const clients = new Set<string>()
    for (const sub of this.#subscriptions.values()) if (sub.runs.some((run) => run.spec.runId === runId)) clients.add(sub.clientId)
    for (const clientId of this.#openers.get(runId) ?? []) if (this.#clients.has(clientId)) clients.add(clientId)
    return [...clients].flatMap((clientId) => this.#headerSources.get(clientId) ?? [])
  }

  /**
   * Fresh headers for a run's next request: the first live tab that answers within the deadline
   * wins; a tab that throws, or answers `undefined`, passes to the next. None: the last headers stand.
   */
  async #freshHeaders(runId: string): Promise<Record<string, string> | undefined> {
    const run = this.#runs.get(runId)
    if (!run) return undefined
    const { sessionId, url } = run.spec
    for (const source of this.#headerAskers(runId)) {
      const answer = await withDeadline(Promise.resolve().then(() => source({ runId, sessionId, url })), STREAM_DEFAULTS.headerDeadlineMs, this.#options)
      if (answer && typeof answer === 'object') return { ...answer }
    }
    return undefined
  }

  #latestRunOf(sessionId: string): Run | undefined {
    let latest: Run | undefined
    for (const run of this.#runs.values()) if (run.spec.sessionId === sessionId) latest = run
    return latest
  }

  #attach(sub: HubSubscription, run: Run, startAt: HubStartAt): void {
    sub.attach(run, startAt)
    this.#budget.rebalance()
    this.#registry.changed()
  }

  /** A feed announced a run: open (or join) it. */
  #announced(feed: Feed, spec: RunSpec): void {
    const result = this.open(spec)
    if ('type' in result) return feed.reject(result.message)
    feed.announced++
  }

  /** A run's status changed (its subscriptions heard it first): a final run frees its slot and is evicted later. */
  #statusChanged(run: Run, status: RunStatus): void {
    const { runId } = run.spec
    if (isFinal(status) && !this.#evictionTimers.has(runId)) {
      // Read when the run ends, not resolved at open: a page's `retentionMs` setting covers runs opened before it.
      this.#evictionTimers.set(runId, this.#options.setTimeout(() => this.#evict(runId), run.spec.retentionMs ?? this.#options.retentionMs))
      this.#budget.rebalance() // a slot is free
    }
  }

  #evict(runId: string): void {
    const run = this.#runs.get(runId)
    this.#evictionTimers.delete(runId)
    if (!run) return
    run.close()
    this.#runs.delete(runId)
    this.#openers.delete(runId)
    for (const sub of this.#subscriptions.values()) sub.detach(run)
    this.#registry.changed()
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

/** `promise`'s value, or undefined once `ms` have passed (or if it rejects): a tab that hangs holds no run. */
function withDeadline<T>(promise: Promise<T>, ms: number, timers: Pick<HubOptions, 'setTimeout' | 'clearTimeout'>): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = timers.setTimeout(() => resolve(undefined), ms)
    promise.then((value) => {
      timers.clearTimeout(timer)
      resolve(value)
    }, () => {
      timers.clearTimeout(timer)
      resolve(undefined)
    })
  })
}
