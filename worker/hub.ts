import type {
  HubApi, HubDiagnostics, HubHello, RegistrySink, RunError, RunEvent, RunSpec, RunSummary, StartAt,
  SubscriberMessage, SubscriberSink, SubscriptionTarget, TransportKind,
} from '../src/protocol.ts'
import { PROTOCOL_VERSION } from '../src/protocol-version.ts'
import type { BackoffPolicy } from './backoff.ts'
import { createEventSourceTransport } from './eventsource-transport.ts'
import { createFetchTransport } from './fetch-transport.ts'
import * as Comlink from 'comlink'
import { allowedRuns, wireProtocolOf, type ConnectionBudget, type WireProtocol } from './budget.ts'
import { serverSeqOf } from './chat-protocol.ts'
import type { LogSlice } from './event-log.ts'
import { isFinal } from './run-status.ts'
import { Run, type RunHost } from './run.ts'
import type { Transport } from './transport.ts'

/** Options of the hub. Every field has a default in `HUB_DEFAULTS`. */
export interface HubOptions {
  /** How long an ended or failed run's transcript stays after its final event. @defaultValue 5 minutes */
  retentionMs: number
  /** Events that arrive within this window go to a subscriber as one message. @defaultValue 16 */
  batchWindowMs: number
  /** Registry watchers get at most one snapshot per this interval. @defaultValue 100 */
  registryThrottleMs: number
  /** Per-run log caps; the oldest events are dropped first. @defaultValue 100 000 events, 64 MiB */
  maxEventsPerRun: number
  maxBytesPerRun: number
  /** The largest single event the fetch transport accepts, in characters. @defaultValue 1 MiB */
  maxEventSize: number
  /** @defaultValue `{ baseMs: 500, maxMs: 15 000 }` */
  backoff: BackoffPolicy
  /** Reconnects without progress before a run fails with `retries_exhausted`. @defaultValue 8 */
  maxRetries: number
  /** Reconnect a stream that stays silent this long; per-run `silenceTimeoutMs` overrides. @defaultValue 20 000 (fetch), 0 = off (EventSource) */
  silenceTimeoutMs: Record<TransportKind, number>
  /**
   * Streams the hub holds at once. Over HTTP/1.1 the browser allows 6 connections per origin for
   * every tab and worker together, so the default leaves 2 for the app's own requests.
   * Runs someone watches get the slots first; the others are parked and resumed from their cursor.
   * @defaultValue `{ http1: 4, http2: 64 }`
   */
  connectionBudget: ConnectionBudget
  /** Origins besides the hub's own that stream URLs may point to. @defaultValue `[]` */
  allowedOrigins: string[]
  /** Relative stream URLs resolve against this; its origin is the hub's own. @defaultValue `location.href` */
  baseUrl: string
  /** Injected transports (tests). @defaultValue EventSource and fetch */
  transports: Partial<Record<TransportKind, Transport>>
  /**
   * Calls `gone` once the client (tab) with this id has gone away, closed or crashed.
   * The SharedWorker implements it with Web Locks; in the page it is not needed.
   */
  watchClient?: (clientId: string, gone: () => void) => void
  /** Calls back when the network comes back, to reconnect at once. @defaultValue the global `online` event */
  onOnline: (callback: () => void) => void
  /** The protocol of responses from an origin, from Resource Timing. @defaultValue reads `performance` */
  observedProtocol: (origin: string) => WireProtocol | undefined
  setTimeout: (callback: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
  random: () => number
}

export const HUB_DEFAULTS: Omit<HubOptions, 'baseUrl' | 'transports' | 'setTimeout' | 'clearTimeout' | 'random' | 'onOnline' | 'observedProtocol'> = {
  retentionMs: 5 * 60_000,
  batchWindowMs: 16,
  registryThrottleMs: 100,
  maxEventsPerRun: 100_000,
  maxBytesPerRun: 64 * 1024 * 1024,
  maxEventSize: 1024 * 1024,
  backoff: { baseMs: 500, maxMs: 15_000 },
  maxRetries: 8,
  silenceTimeoutMs: { fetch: 20_000, eventsource: 0 },
  connectionBudget: { http1: 4, http2: 64 },
  allowedOrigins: [],
}

interface Subscription {
  id: number
  clientId: string
  target: SubscriptionTarget
  startAt: StartAt
  sink: SubscriberSink
  /** Messages waiting for the next flush, in order. */
  queue: SubscriberMessage[]
  /** Runs this subscription is attached to. */
  runIds: Set<string>
  /**
   * Per run, a server seq the subscriber already has but the log has not reached yet (a
   * cursor from another hub, while this one replays the run): events up to it are skipped.
   */
  skipThrough: Map<string, number>
}

interface Watch {
  clientId: string
  sink: RegistrySink
}

/**
 * The hub: holds runs (one connection each), their logs, and every
 * subscription of every client. Lives in the SharedWorker, or in the page when
 * SharedWorker is missing. Touches no `window` or `document`.
 */
export class RunHub {
  readonly hubId = crypto.randomUUID()
  readonly #options: HubOptions
  readonly #transports: Record<TransportKind, Transport>
  readonly #runs = new Map<string, Run>()
  readonly #runHost: RunHost
  readonly #subscriptions = new Map<number, Subscription>()
  readonly #watches = new Map<number, Watch>()
  readonly #announcedStatus = new WeakMap<Run, string>()
  readonly #evictionTimers = new Map<string, unknown>()
  readonly #clients = new Set<string>()
  #nextId = 1
  #protocol: WireProtocol = 'http1'
  #flushTimer: unknown
  #registryTimer: unknown

  constructor(options: Partial<HubOptions> = {}) {
    this.#options = {
      ...HUB_DEFAULTS,
      baseUrl: globalThis.location?.href ?? 'http://localhost/',
      transports: {},
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as number),
      random: Math.random,
      onOnline: (callback) => globalThis.addEventListener?.('online', callback),
      observedProtocol,
      ...options,
    }
    const o = this.#options
    this.#transports = {
      eventsource: o.transports.eventsource ?? createEventSourceTransport(),
      fetch: o.transports.fetch ?? createFetchTransport({ maxEventSize: o.maxEventSize }),
    }
    this.#runHost = {
      transport: (request, handlers) => this.#transports[request.spec.transport ?? 'eventsource'](request, handlers),
      limits: { maxEvents: o.maxEventsPerRun, maxBytes: o.maxBytesPerRun },
      backoff: o.backoff,
      maxRetries: o.maxRetries,
      maxEventSize: o.maxEventSize,
      silenceTimeoutMs: (spec) => spec.silenceTimeoutMs ?? o.silenceTimeoutMs[spec.transport ?? 'eventsource'],
      setTimeout: o.setTimeout,
      clearTimeout: o.clearTimeout,
      random: o.random,
      onEvent: (run, event) => {
        for (const id of run.subscriptions) {
          const sub = this.#subscriptions.get(id)!
          if (!alreadyHas(sub, run.spec.runId, event)) this.#enqueueEvents(sub, run.spec.runId, [event])
        }
        this.#registryChanged()
      },
      onChange: (run) => this.#runChanged(run),
      onResync: (run, reason, message) => {
        for (const id of run.subscriptions) this.#subscriptions.get(id)!.queue.push({ type: 'resync', runId: run.spec.runId, reason, message })
        this.#scheduleFlush()
      },
    }
    o.onOnline(() => {
      for (const run of this.#runs.values()) run.reconnectNow()
    })
  }

  /** The API one client (tab) talks to. Its id arrives with `hello`. */
  connect(): HubApi {
    let clientId = `anonymous-${this.#nextId++}`
    return {
      hello: (id, protocolVersion): HubHello => {
        clientId = id
        this.#clients.add(id)
        this.#options.watchClient?.(id, () => this.releaseClient(id))
        void protocolVersion // the client decides about mismatches; the hub just answers
        return { protocolVersion: PROTOCOL_VERSION, hubId: this.hubId }
      },
      open: (spec) => this.open(spec),
      subscribe: (target, startAt, sink) => this.subscribe(clientId, target, startAt, sink),
      unsubscribe: (id) => this.unsubscribe(id),
      watchRuns: (sink) => this.watchRuns(clientId, sink),
      unwatchRuns: (id) => void this.#watches.delete(id),
      release: () => this.releaseClient(clientId),
      ping: () => true,
      diagnostics: () => this.diagnostics(),
    }
  }

  open(spec: RunSpec): RunSummary | RunError {
    const existing = this.#runs.get(spec.runId)
    if (existing?.status === 'failed') {
      // Opening a failed run again retries it from its cursor (after a re-login, say).
      this.#options.clearTimeout(this.#evictionTimers.get(spec.runId))
      this.#evictionTimers.delete(spec.runId)
      existing.retry()
      this.#rebalance()
    }
    if (existing) return existing.summary()
    const url = this.#checkSpec(spec)
    if (!(url instanceof URL)) return url
    const run = new Run(structuredClone(spec), url, this.#runHost, this.#nextId++)
    this.#runs.set(spec.runId, run)
    for (const sub of this.#subscriptions.values()) {
      const follows = 'runId' in sub.target ? sub.target.runId === spec.runId : sub.target.sessionId === spec.sessionId
      if (follows) this.#attach(sub, run, 'runId' in sub.target ? sub.startAt : 'beginning')
    }
    this.#learnProtocol(this.#options.observedProtocol(url.origin))
    this.#rebalance() // starts the run, or parks it when the budget is full
    return run.summary()
  }

  subscribe(clientId: string, target: SubscriptionTarget, startAt: StartAt, sink: SubscriberSink): number {
    const sub: Subscription = { id: this.#nextId++, clientId, target, startAt, sink, queue: [], runIds: new Set(), skipThrough: new Map() }
    this.#subscriptions.set(sub.id, sub)
    if ('runId' in target) {
      const run = this.#runs.get(target.runId)
      if (run) this.#attach(sub, run, startAt)
      else {
        sub.queue.push({ type: 'waiting', runId: target.runId })
        this.#scheduleFlush()
      }
    } else {
      const current = this.#latestRunOf(target.sessionId)
      if (current) this.#attach(sub, current, startAt)
    }
    return sub.id
  }

  unsubscribe(subscriptionId: number): void {
    const sub = this.#subscriptions.get(subscriptionId)
    if (!sub) return
    this.#subscriptions.delete(subscriptionId)
    for (const runId of sub.runIds) this.#runs.get(runId)?.subscriptions.delete(subscriptionId)
    // Close the Comlink proxy's MessageChannel; a sink in the page has no such method.
    safeCall(() => (sub.sink as Partial<Record<typeof Comlink.releaseProxy, () => void>>)[Comlink.releaseProxy]?.())
    this.#rebalance()
    this.#registryChanged()
  }

  watchRuns(clientId: string, sink: RegistrySink): number {
    const id = this.#nextId++
    this.#watches.set(id, { clientId, sink })
    safeCall(() => sink.update(this.#snapshot()))
    return id
  }

  /** Drops every subscription and watch of a client (a closed or crashed tab). */
  releaseClient(clientId: string): void {
    for (const sub of [...this.#subscriptions.values()]) if (sub.clientId === clientId) this.unsubscribe(sub.id)
    for (const [id, watch] of this.#watches) if (watch.clientId === clientId) this.#watches.delete(id)
    this.#clients.delete(clientId)
  }

  diagnostics(): HubDiagnostics {
    const connections: Record<string, number> = {}
    const connectionsOpened: Record<string, number> = {}
    for (const [runId, run] of this.#runs) {
      connections[runId] = run.connected ? 1 : 0
      connectionsOpened[runId] = run.connectionsOpened
    }
    const subscriptionsByClient: Record<string, number> = {}
    for (const clientId of this.#clients) subscriptionsByClient[clientId] = 0
    for (const sub of this.#subscriptions.values()) subscriptionsByClient[sub.clientId] = (subscriptionsByClient[sub.clientId] ?? 0) + 1
    return { hubId: this.hubId, runs: this.#snapshot(), connections, connectionsOpened, subscriptionsByClient, clients: this.#clients.size }
  }

  #checkSpec(spec: RunSpec): URL | RunError {
    const invalid = (message: string): RunError => ({ type: 'error', code: 'invalid_spec', message })
    if (typeof spec?.runId !== 'string' || !spec.runId) return invalid('RunSpec.runId must be a non-empty string (the server\'s stream id).')
    if (typeof spec.sessionId !== 'string' || !spec.sessionId) return invalid('RunSpec.sessionId must be a non-empty string.')
    if (typeof spec.url !== 'string' || !spec.url) return invalid('RunSpec.url must be the stream URL, e.g. `/api/chat/stream?stream_id=...`.')
    if (spec.transport === 'eventsource' && (spec.method === 'POST' || spec.headers || spec.body)) {
      return invalid('EventSource can only GET without custom headers; use `transport: \'fetch\'` for method, headers or body.')
    }
    let url: URL
    try {
      url = new URL(spec.url, this.#options.baseUrl)
    } catch {
      return { type: 'error', code: 'url_refused', message: `"${spec.url}" is not a valid URL.` }
    }
    const own = new URL(this.#options.baseUrl).origin
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { type: 'error', code: 'url_refused', message: `Stream URLs must be http(s); got ${url.protocol}` }
    }
    if (url.origin !== own && !this.#options.allowedOrigins.includes(url.origin)) {
      return { type: 'error', code: 'url_refused', message: `${url.origin} is not this app's origin (${own}); add it to allowedOrigins to stream from it.` }
    }
    return url
  }

  #latestRunOf(sessionId: string): Run | undefined {
    let latest: Run | undefined
    for (const run of this.#runs.values()) if (run.spec.sessionId === sessionId) latest = run
    return latest
  }

  /** Catch-up goes into the same queue as live events, so nothing can slip in between. */
  #attach(sub: Subscription, run: Run, startAt: StartAt): void {
    const { runId } = run.spec
    sub.runIds.add(runId)
    run.subscriptions.add(sub.id)
    run.finishedUnwatched = false
    if ('sessionId' in sub.target) sub.queue.push({ type: 'run', run: run.summary() })
    const { events, truncated } = catchUp(run, startAt)
    const cursor = cursorSeq(startAt, runId)
    if (cursor !== undefined && events.length === 0) sub.skipThrough.set(runId, cursor)
    if (truncated) {
      const message = `Events of run ${runId} before hub seq ${run.log.firstSeq} are no longer held (per-run log caps).`
      sub.queue.push({ type: 'resync', runId, reason: 'log_truncated', message })
    }
    if (events.length > 0) this.#enqueueEvents(sub, runId, events)
    sub.queue.push(statusMessage(run))
    this.#scheduleFlush()
    this.#rebalance()
    this.#registryChanged()
  }

  /** Gives the budget's slots to the runs that deserve them: watched first, then oldest. */
  #rebalance(): void {
    const live = [...this.#runs.values()].filter((run) => !isFinal(run.status))
    const limit = this.#options.connectionBudget[this.#protocol]
    const allowed = allowedRuns(live.map((run) => ({ runId: run.spec.runId, watched: run.subscriptions.size > 0, openedAt: run.openedAt })), limit)
    // Park first, so a resumed run never pushes the total over the limit.
    for (const run of live) if (!allowed.has(run.spec.runId) && run.status !== 'parked') run.park()
    for (const run of live) {
      if (!allowed.has(run.spec.runId)) continue
      if (run.status === 'parked') run.resume()
      else run.start()
    }
  }

  #learnProtocol(protocol: WireProtocol | undefined): void {
    if (!protocol || protocol === this.#protocol) return
    this.#protocol = protocol
    this.#rebalance()
  }

  #enqueueEvents(sub: Subscription, runId: string, events: RunEvent[]): void {
    const last = sub.queue.at(-1)
    if (last?.type === 'events' && last.runId === runId) last.events.push(...events)
    else sub.queue.push({ type: 'events', runId, events: [...events] })
    this.#scheduleFlush()
  }

  #runChanged(run: Run): void {
    const { runId } = run.spec
    if (this.#announcedStatus.get(run) !== run.status) {
      this.#announcedStatus.set(run, run.status)
      const message = statusMessage(run)
      for (const id of run.subscriptions) this.#subscriptions.get(id)!.queue.push(message)
      this.#scheduleFlush()
      if (isFinal(run.status) && !this.#evictionTimers.has(runId)) {
        this.#evictionTimers.set(runId, this.#options.setTimeout(() => this.#evict(runId), run.spec.retentionMs ?? this.#options.retentionMs))
        this.#rebalance() // a slot is free
      }
    }
    this.#registryChanged()
  }

  #evict(runId: string): void {
    const run = this.#runs.get(runId)
    this.#evictionTimers.delete(runId)
    if (!run) return
    run.close()
    this.#runs.delete(runId)
    for (const id of run.subscriptions) this.#subscriptions.get(id)?.runIds.delete(runId)
    this.#registryChanged()
  }

  #scheduleFlush(): void {
    this.#flushTimer ??= this.#options.setTimeout(() => this.#flush(), this.#options.batchWindowMs)
  }

  #flush(): void {
    this.#flushTimer = undefined
    for (const sub of this.#subscriptions.values()) {
      if (sub.queue.length === 0) continue
      const batch = sub.queue
      sub.queue = []
      safeCall(() => sub.sink.deliver(batch))
    }
  }

  #registryChanged(): void {
    if (this.#watches.size === 0) return
    this.#registryTimer ??= this.#options.setTimeout(() => {
      this.#registryTimer = undefined
      const snapshot = this.#snapshot()
      for (const watch of [...this.#watches.values()]) safeCall(() => watch.sink.update(snapshot))
    }, this.#options.registryThrottleMs)
  }

  #snapshot(): RunSummary[] {
    return [...this.#runs.values()].map((run) => run.summary())
  }
}

/** The protocol seen on completed requests to `origin` (streams show up in Resource Timing when they end). */
function observedProtocol(origin: string): WireProtocol | undefined {
  const entries = (globalThis.performance?.getEntriesByType?.('resource') ?? []) as PerformanceResourceTiming[]
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!
    if (entry.name.startsWith(origin) && entry.nextHopProtocol) return wireProtocolOf(entry.nextHopProtocol)
  }
  return undefined
}

/** The server seq of an `afterEventId` start on this run, when it has one. */
function cursorSeq(startAt: StartAt, runId: string): number | undefined {
  if (typeof startAt !== 'object' || !('afterEventId' in startAt)) return undefined
  if (startAt.runId !== undefined && startAt.runId !== runId) return undefined
  return serverSeqOf(startAt.afterEventId)
}

/** Whether a live event is one the subscriber had before it came to this hub (see `skipThrough`). */
function alreadyHas(sub: Subscription, runId: string, event: RunEvent): boolean {
  const skip = sub.skipThrough.get(runId)
  if (skip === undefined) return false
  const seq = event.id === undefined ? undefined : serverSeqOf(event.id)
  if (seq !== undefined && seq <= skip) return true
  sub.skipThrough.delete(runId)
  return false
}

function statusMessage(run: Run): SubscriberMessage {
  const { runId, status, error } = run.summary()
  return error ? { type: 'status', runId, status, error } : { type: 'status', runId, status }
}

/** The part of a run's log a new subscriber has not seen. */
function catchUp(run: Run, startAt: StartAt): LogSlice {
  if (startAt === 'beginning') return run.log.after(0)
  if (startAt === 'live') return { events: [], truncated: false }
  if ('afterSeq' in startAt) return run.log.after(startAt.afterSeq)
  if (startAt.runId !== undefined && startAt.runId !== run.spec.runId) return run.log.after(0) // a cursor of another run
  // A page-rendered cursor is fully served when the run was opened to resume from it.
  if (startAt.afterEventId === run.spec.resumeFrom) return { events: run.log.after(0).events, truncated: run.log.firstSeq > 1 }
  return run.log.afterEventId(startAt.afterEventId, serverSeqOf)
}

/**
 * Calls a sink: in the page it may throw, across Comlink it returns a promise that
 * may reject (or never settle when the tab is gone). Neither may touch other subscribers.
 */
function safeCall(call: () => unknown): void {
  try {
    const result = call() as Promise<unknown> | undefined
    if (result && typeof result.then === 'function') result.then(undefined, () => {})
  } catch {
    // One subscriber's failure is its own; the hub and the other subscribers go on.
  }
}
