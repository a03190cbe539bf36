import type { TransportKind } from '../common/model.ts'
import type { BackoffPolicy } from './backoff.ts'
import { wireProtocolOf, type ConnectionBudget, type WireProtocol } from './budget.ts'
import type { Transport } from './transport.ts'

/**
 * Every default of the hub in one place: the options (`HUB_DEFAULTS`, and the platform ones in
 * `hubOptionsWith`) and the fixed limits of a connection (`STREAM_DEFAULTS`). What a server
 * contract means when a spec leaves a field out is its preset's (`server-contract.ts`).
 */

/** Options of the hub. Every field has a default in `HUB_DEFAULTS` or `hubOptionsWith`. */
export interface HubOptions {
  /** How long an ended or failed run's transcript stays after its final event. @defaultValue 5 minutes */
  retentionMs: number
  /** Registry watchers get at most one snapshot per this interval. @defaultValue 100 */
  registryThrottleMs: number
  /** Per-run log caps; the oldest events are dropped first. @defaultValue 100 000 events, 64 MiB */
  maxEventsPerRun: number
  maxBytesPerRun: number
  /**
   * The largest single event a run accepts, in characters, with either transport (the fetch
   * transport also refuses a line without an end past it); per-run `maxEventSize` overrides.
   * @defaultValue 1 MiB
   */
  maxEventSize: number
  /** @defaultValue `{ baseMs: 500, maxMs: 15 000 }` */
  backoff: BackoffPolicy
  /** Reconnects without progress before a run fails with `retries_exhausted`. @defaultValue 8 */
  maxRetries: number
  /** 5xx answers without `Retry-After` in a row (no progress between) before a run fails with `retries_exhausted`. @defaultValue 3 */
  maxServerErrors: number
  /** Reconnect a stream that stays silent this long; per-run `silenceTimeoutMs` overrides. @defaultValue 20 000 (fetch, counting heartbeats), 45 000 (EventSource, counting events) */
  silenceTimeoutMs: Record<TransportKind, number>
  /**
   * Streams the hub holds at once. Over HTTP/1.1 the browser allows 6 connections per origin for
   * every tab and worker together, so the default leaves 2 for the app's own requests.
   * `allowedConnections` in `budget.ts` decides who gets the slots (feeds never starve a run); the
   * others are parked and resumed from their cursor.
   * @defaultValue `{ http1: 4, http2: 64 }`
   */
  connectionBudget: ConnectionBudget
  /**
   * How long a slot stays taken after the hub aborts an HTTP/1.1 request (a park, a close): the
   * browser keeps an aborted request's socket for a while (Chromium about 5 s), and it counts
   * against the origin's 6 connections all the same. 0: count the slot free at once.
   * @defaultValue 5 000
   */
  abortCooldownMs: number
  /** Origins besides the hub's own that stream URLs may point to. @defaultValue `[]` */
  allowedOrigins: string[]
  /** Origins declared HTTP/2 (see `HubSettings.http2Origins`). @defaultValue `[]` */
  http2Origins: string[]
  /** Relative stream URLs resolve against this; its origin is the hub's own. @defaultValue `location.href` */
  baseUrl: string
  /** Injected transports (tests). @defaultValue EventSource and fetch */
  transports: Partial<Record<TransportKind, Transport>>
  /**
   * Calls `gone` once the client (tab) with this id has gone away, closed or crashed.
   * The SharedWorker implements it with Web Locks; in the page it is not needed.
   */
  watchClient?: (clientId: string, gone: () => void) => void
  /**
   * Whether the browser is online, and a way to hear when that changes. While offline, a
   * dropped run waits for the network without spending its retries; `online` reconnects every
   * run that waits. @defaultValue `navigator.onLine` and the global `online`/`offline` events
   */
  network: { isOnline(): boolean; onChange(callback: (online: boolean) => void): void }
  /** While runs wait for the network, how often the hub checks it besides listening for `online`. @defaultValue 1000 */
  networkCheckMs: number
  /** The protocol of responses from an origin, from Resource Timing. @defaultValue reads `performance` */
  observedProtocol: (origin: string) => WireProtocol | undefined
  /** Calls back when new responses show in Resource Timing (the budget looks at their protocol again). @defaultValue a PerformanceObserver */
  onResponses: (callback: () => void) => void
  setTimeout: (callback: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
  now: () => number
  random: () => number
}

export const HUB_DEFAULTS: Omit<HubOptions, 'baseUrl' | 'transports' | 'setTimeout' | 'clearTimeout' | 'now' | 'random' | 'network' | 'observedProtocol' | 'onResponses'> = {
  retentionMs: 5 * 60_000,
  registryThrottleMs: 100,
  maxEventsPerRun: 100_000,
  maxBytesPerRun: 64 * 1024 * 1024,
  maxEventSize: 1024 * 1024,
  backoff: { baseMs: 500, maxMs: 15_000 },
  maxRetries: 8,
  maxServerErrors: 3,
  silenceTimeoutMs: { fetch: 20_000, eventsource: 45_000 },
  connectionBudget: { http1: 4, http2: 64 },
  abortCooldownMs: 5_000,
  allowedOrigins: [],
  http2Origins: [],
  networkCheckMs: 1000,
}

/** Limits of every connection that are not hub options. */
export const STREAM_DEFAULTS = {
  /**
   * The transport when neither the spec nor its preset names one. fetch: it refuses redirects (the
   * allow-list holds), bounds a line at maxEventSize and sees the status, heartbeats and every event
   * name. EventSource can do none of these (README, "Transports").
   */
  transport: 'fetch' as TransportKind,
  /** How long a server may take to answer with headers, unless the spec says otherwise (`RunSpec.connectTimeoutMs`). */
  connectTimeoutMs: 10_000,
  /** How long a feed's connection must stay open to count as progress (a feed may be idle for hours). */
  feedHealthyMs: 5000,
  /** How long the EventSource transport's probe waits for the headers a failed source hid. */
  probeTimeoutMs: 5000,
  /** The longest `Retry-After` the hub waits for: a server asking for more gets this, then its retry. */
  maxRetryAfterMs: 60_000,
  /**
   * How many unsubscribes of ids the hub has not seen it remembers. Each stands for a subscribe
   * still in flight (a client recovering onto a new port); a stale one (an id already ended) only
   * takes a slot until newer ones push it out.
   */
  maxEarlyUnsubscribes: 1024,
  /** How long a tab may take to give a run fresh headers before a reconnect (`RelayOptions.headers`). */
  headerDeadlineMs: 2_000,
} as const

/** `given` over every default: a fresh copy per hub, since `configure()` changes some of them. */
export function hubOptionsWith(given: Partial<HubOptions>): HubOptions {
  return {
    ...structuredClone(HUB_DEFAULTS),
    baseUrl: globalThis.location?.href ?? 'http://localhost/',
    transports: {},
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as number),
    now: () => performance.now(),
    random: Math.random,
    network: browserNetwork,
    observedProtocol,
    onResponses,
    ...given,
  }
}

/** The browser's own view of the network (a worker has `navigator.onLine` and the events too). */
const browserNetwork: HubOptions['network'] = {
  isOnline: () => globalThis.navigator?.onLine ?? true,
  onChange(callback) {
    globalThis.addEventListener?.('online', () => callback(true))
    globalThis.addEventListener?.('offline', () => callback(false))
  },
}

/** The protocol seen on completed requests to `origin` (streams show up in Resource Timing when they end). */
export function observedProtocol(origin: string): WireProtocol | undefined {
  const entries = (globalThis.performance?.getEntriesByType?.('resource') ?? []) as PerformanceResourceTiming[]
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!
    if (entry.name.startsWith(origin) && entry.nextHopProtocol) return wireProtocolOf(entry.nextHopProtocol)
  }
  return undefined
}


/** New Resource Timing entries (a stream that ended, any other response of this context's). */
function onResponses(callback: () => void): void {
  if (typeof PerformanceObserver === 'undefined') return
  try {
    new PerformanceObserver(() => callback()).observe({ type: 'resource' })
  } catch {
    // No resource timing here: the hub learns at each open and rebalance instead.
  }
}
