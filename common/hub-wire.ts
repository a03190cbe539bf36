/**
 * The hub wire: the contract between the page (`src/`) and the hub (`worker/`) across Comlink.
 *
 * Read by the page files that talk to the hub (the client, its connectors and subscriptions, the
 * shared-tab hub) and by `worker/`. The calls and messages that cross the Comlink boundary between
 * them are declared here, and only here; the data they carry (specs, summaries, errors) is the
 * public model of `model.ts`. Types only: both sides `import type` it, so it adds no bytes to
 * either bundle. The one runtime value, the protocol version, lives in `protocol-version.ts`.
 * `HubHello`, `HubSettings` and `HubDiagnostics` are also public: `index.ts` re-exports them.
 */

import type { FeedSpec, FeedSummary, ResyncReason, RunError, RunSpec, RunStatus, RunSummary, StartAt, SubscriptionTarget } from './model.ts'

/** What `open` answers: the run, and whether this open joined it with another spec. */
export interface OpenedRun extends RunSummary {
  /** This open's number in the hub (see `RegistrySink.update`). */
  openNumber: number
  /**
   * Set when this open joined a live run held with a different `url` or `resumeUrl`: the held
   * spec wins (one connection per run). The page prints it as a console warning.
   */
  conflict?: string
}

/**
 * Consecutive events of one run, in columns. A catch-up of any length is one of these: cloning
 * 10,000 events as columns took 2.7 ms against 9.5 ms as objects and 10 ms as one joined
 * string (v8 serializer, median of 15; `npm run bench` measures it again in Chromium).
 * The page turns it back into `RunEvent`s.
 */
export interface EventColumns {
  runId: string
  /** The hub seq of the first event; the others follow without gaps. */
  firstSeq: number
  types: string[]
  data: string[]
  /** The server's `id:` of each event, `null` where it sent none. */
  ids: Array<string | null>
}

/** One message to a subscriber. A batch of them is one `deliver` call in the hub, one `batch` message on the event port. */
export type SubscriberMessage =
  /** A session subscription is now following this run (sent before its events). */
  | { type: 'run'; run: RunSummary }
  /** A run subscription names a run the hub does not hold (yet): events follow once some tab opens it. */
  | { type: 'waiting'; runId: string }
  /** Events of a run, in order, each exactly once. */
  | ({ type: 'events' } & EventColumns)
  /** The run's status changed. */
  | { type: 'status'; runId: string; status: RunStatus; error?: RunError }
  /** What this subscriber holds of the run has a hole it cannot fill from here: rebuild it (see `ResyncReason`). */
  | { type: 'resync'; runId: string; reason: ResyncReason; message: string }

/**
 * The receiver of one subscription, as the hub sees it: by default a sink over the client's
 * event port (`worker/hub-event-port.ts`, settling on the page's ack), or one the caller exposes with
 * Comlink on the `sink` port of `subscribe`. Never one message per event.
 * The hub sends the next batch only once `deliver` has settled, so at most one
 * batch per subscription waits in a tab's port, however slow or frozen the tab.
 */
export interface SubscriberSink {
  deliver(messages: SubscriberMessage[]): void | Promise<void>
}

/** The page-side receiver of registry snapshots. */
export interface RegistrySink {
  /**
   * `opens`: how many `open` calls the hub had handled when it listed `runs`. A run whose open
   * answered with an `openNumber` up to it, and that is not listed, was evicted.
   */
  update(runs: RunSummary[], opens: number): void
}

/** What the hub answers to the handshake. */
export interface HubHello {
  /** The hub's protocol version (`PROTOCOL_VERSION` of its build); a client of another version gets `version_mismatch`. */
  protocolVersion: number
  /** A random id of this hub instance: two tabs on one SharedWorker see the same id. */
  hubId: string
  /** The hub-wide settings in force (see `HubSettings` for who sets them). */
  settings: Required<HubSettings>
  /** Why the settings this client gave were refused; none of them was applied. */
  settingsError?: RunError
}

/**
 * Hub-wide settings a page can give (`createRunRelay({ hub })`). One hub serves every tab, so:
 * `allowedOrigins` is the union of what every tab asked for; the other settings are set by the
 * first tab that connects with any, and hold for the hub's life (a tab that asks for others gets
 * a console warning and the settings in force, in `ready`'s `settings`). Checked by
 * `checkHubSettings` (`worker/hub-settings.ts`) in the hub; invalid ones fail the handshake (`settingsError`).
 */
export interface HubSettings {
  /** Origins besides the app's own that stream URLs may point to. @defaultValue `[]` */
  allowedOrigins?: string[]
  /**
   * Origins known to speak HTTP/2 (or 3): their streams get the `http2` budget from the first
   * open, before a response could tell. Adds up across tabs, like `allowedOrigins`. The hub also
   * learns it by itself from each response it sees (Resource Timing), and a page served over
   * HTTP/2 declares its own origin. @defaultValue `[]`
   */
  http2Origins?: string[]
  /** Streams the hub holds at once; the others are parked. @defaultValue `{ http1: 4, http2: 64 }` */
  connectionBudget?: {
    /** Streams held at once while any origin in use is not known to speak HTTP/2. */
    http1?: number
    /** Streams held at once when every origin in use speaks HTTP/2. */
    http2?: number
  }
  /**
   * How long a slot of the HTTP/1.1 budget stays taken after the hub aborts a request (a park, a
   * close): browsers keep an aborted request's socket for a while (Chromium about 5 s). @defaultValue 5 000
   */
  abortCooldownMs?: number
  /** How long an ended or failed run stays after its last event. @defaultValue 5 minutes */
  retentionMs?: number
  /** Per-run log cap, in events; the oldest events are dropped first. @defaultValue 100 000 */
  maxEventsPerRun?: number
  /** Per-run log cap, in bytes (as `RunSpec.logLimits.maxBytes` counts them); the oldest events are dropped first. @defaultValue 64 MiB */
  maxBytesPerRun?: number
}

/** The hub's figures, from `relay.diagnostics()`: for the inspector, tests and debugging. */
export interface HubDiagnostics {
  /** The hub instance's random id (as in `HubHello`). */
  hubId: string
  /** The hub's view of the network (`navigator.onLine` where it runs). */
  online: boolean
  /** Every run the hub holds, as the registry shows it. */
  runs: RunSummary[]
  /** Server connections open now, per run. */
  connections: Record<string, number>
  /** Server connections opened in total, per run. */
  connectionsOpened: Record<string, number>
  /** Per run that had any: U+FFFD made of bytes that were not UTF-8 (the SSE spec decodes them so; the run goes on). */
  invalidText: Record<string, number>
  /** What each run's log holds now, in bytes (UTF-16, as the heap stores it). */
  logBytes: Record<string, number>
  /** Server connections open now (runs and feeds) against the connection budget for the protocol the hub has seen. */
  budget: {
    /** Which budget applies: `http2` when every origin in use is known to speak HTTP/2. */
    protocol: 'http1' | 'http2'
    /** Streams the hub may hold at once under that budget. */
    limit: number
    /** Streams it holds now. */
    open: number
  }
  /** The event names each run's connection forwards (`all`: the fetch transport with no `events` list). EventSource cannot see others. */
  listening: Record<string, string[] | 'all'>
  /** Feeds held, with their connection. */
  feeds: Array<FeedSummary & {
    /** Whether the feed holds a server connection now. */
    connected: boolean
    /** Server connections the feed opened in total. */
    connectionsOpened: number
  }>
  /** Live subscriptions per client (tab). */
  subscriptionsByClient: Record<string, number>
  /** Clients connected to the hub: one per relay, in every tab. */
  clients: number
}

/**
 * Headers a page gives for a run's next request, asked before each reconnect (a token that has
 * expired since the run started, say). `undefined`: nothing new; the last headers are used.
 */
export type HeaderSource = (run: { runId: string; sessionId: string; url: string }) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>

/** How a client opens a run. */
export interface OpenOptions {
  /**
   * The run's first request was sent by a hub that went away (recovery): this hub never sends it
   * again. It connects through `resumeUrl` (a GET); a run that cannot resume that way (a POST
   * without `resumeUrl`, a server that cannot resume) fails at once as `unresumable`.
   */
  resumed?: boolean
}

/**
 * Where a subscription starts: what an app can ask (`StartAt`), or, for a subscription renewed on
 * a new hub, after the first `afterCount` events of run `runId` (a run without ids, which the new
 * hub replays from its start). A run that ends before reaching that count tells the subscriber
 * `server_lost_events`: the server's replay no longer covers what it had.
 */
export type HubStartAt = StartAt | { afterCount: number; runId: string }

/**
 * The hub's API as one client (a tab or the in-page fallback) sees it.
 * Every method may be called across Comlink, so results are plain data.
 */
export interface HubApi {
  /** First call on every link to the hub. Throws nothing; the client compares versions. */
  hello(clientId: string, protocolVersion: number, settings?: HubSettings): HubHello
  /** Opens a run, or joins it when the hub already holds it: never a second connection. Opening a failed run retries it from its server cursor. */
  open(spec: RunSpec, options?: OpenOptions): OpenedRun | RunError
  /** Opens a feed, or joins it: one connection for every tab. It lives while a client that opened it does, or until `closeFeed`. */
  openFeed(spec: FeedSpec): FeedSummary | RunError
  /** This client no longer needs the feed; the hub closes it when no client does. */
  closeFeed(feedId: string): void
  /**
   * The client's event port (transferred), sent right after `hello` answered: every later
   * subscription without a `sink` is delivered on it (see `EventPortMessage`).
   */
  events(port: MessagePort): void
  /**
   * Catch-up and live events go to the client's event port (`sink` undefined), or to `sink`: a
   * port on which the caller exposes its `SubscriberSink` with Comlink (transferred), which the
   * hub closes when the subscription ends.
   * The client chooses `subscriptionId` (unique for the
   * hub's life, e.g. prefixed with its client id), so it can unsubscribe without waiting for this
   * call's answer, which may come after the client's deadline.
   */
  subscribe(target: SubscriptionTarget, startAt: HubStartAt, sink: MessagePort | undefined, subscriptionId: string): void
  /** The client's source of fresh headers (a Comlink proxy): asked before each reconnect of a run it follows or opened. */
  headerSource(source: HeaderSource): void
  /** Ends the subscription; honoured even when it arrives before the `subscribe` it ends (a subscribe still in flight on another port). */
  unsubscribe(subscriptionId: string): void
  /** Stops holding the run's connection before its end; the run fails with `closed` and keeps its log. Opening it again resumes it. */
  close(runId: string): void
  /** `sink` gets a snapshot at once and after every change. Returns the watch id. */
  watchRuns(sink: RegistrySink): number
  unwatchRuns(watchId: number): void
  /** Drops every subscription and watch of this client. */
  release(): void
  /** Answers at once: the client's liveness check. */
  ping(): true
  /** The latest run of the session that the hub holds and that has neither ended nor failed; undefined when none. */
  activeRun(sessionId: string): RunSummary | undefined
  diagnostics(): HubDiagnostics
}

// ---------------------------------------------------------------------------------------------
// The event port: deliveries travel on one MessagePort per client, outside Comlink.
// ---------------------------------------------------------------------------------------------

/**
 * What travels on a client's event port (`HubApi.events`). Comlink carries the control calls and
 * the registry watchers' snapshots (at most one per 100 ms), never a subscription's events;
 * deliveries go here as plain messages, without Comlink's envelope (a call id, a path, wrapped
 * arguments, and an answer of the same shape), one per batch. Flow control is the sink's: the
 * hub sends a subscription's next batch only after the page acked the one before, so at most
 * one batch per subscription waits in the port, however slow or frozen the tab.
 */
export type EventPortMessage =
  /** Hub → page: the next batch of one subscription (events as `EventColumns`). */
  | { type: 'batch'; subscriptionId: string; messages: SubscriberMessage[] }
  /** Page → hub: the page has handled that subscription's batch; the hub may send the next one. */
  | { type: 'ack'; subscriptionId: string }
  /** Page → hub: the page closes its end; the hub ends every subscription delivered on this port. */
  | { type: 'close' }
