import type {
  FeedSpec, FeedSummary, ResyncReason, RunError, RunEvent, RunSpec, RunStatus, RunSummary, StartAt, SubscriptionTarget,
} from '../common/model.ts'
import type { HeaderSource, HubDiagnostics, HubSettings, HubHello } from '../common/hub-wire.ts'

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
  /**
   * Where the SharedWorker's script is, for a bundler that does not emit it from the package's
   * `new URL('./assets/shared-worker-….js', import.meta.url)` (esbuild, a classic script): copy
   * `node_modules/run-relay/dist/lib/assets/` to your static files and give its URL here. A
   * function is called when the relay first connects (in a browser), never during server rendering.
   * @defaultValue the package's own file, as your bundler resolves it
   */
  workerUrl?: string | URL | (() => string | URL)
  /**
   * Fresh request headers for a run, kept on this page (never cloned to the worker). Before each
   * reconnect of a run this tab follows or opened, the hub asks a live tab for them (with a 2 s
   * deadline; with no tab left, the last headers are used), and a 401 or 403 on a reconnect asks
   * once more before the run fails with `auth`. Return `undefined` for a run it does not know.
   * @example
   * createRunRelay({ headers: async () => ({ Authorization: `Bearer ${await auth.freshToken()}` }) })
   */
  headers?: HeaderSource
  /** Dispose the relay on `pagehide`, releasing this tab's subscriptions at once. @defaultValue true */
  disposeOnPageHide?: boolean
  /**
   * How often the client checks that its hub still answers. A hub that does not (its worker was
   * killed) is replaced: the client reconnects, re-opens its runs and renews its subscriptions
   * from their cursors. 0 turns it off.
   * @defaultValue 5000
   */
  livenessMs?: number
  /**
   * Hub-wide settings: `allowedOrigins`, the connection budget, retention and log caps. One hub
   * serves every tab: allowed origins add up; the rest is set by the first tab that gives any
   * (see `HubSettings`). `ready` resolves with the settings in force.
   */
  hub?: HubSettings
}

/** The defaults of `RelayOptions`, in one place. */
export const RELAY_DEFAULTS = {
  /** The default of `RelayOptions.name`. */
  name: 'run-relay',
  /** The default of `RelayOptions.callTimeoutMs`. */
  callTimeoutMs: 10_000,
  /** The default of `RelayOptions.clientId`. */
  clientId: 'client',
  /** The default of `RelayOptions.mode`. */
  mode: 'auto',
  /** The default of `RelayOptions.extendedLifetime`. */
  extendedLifetime: true,
  /** The default of `RelayOptions.disposeOnPageHide`. */
  disposeOnPageHide: true,
  /** The default of `RelayOptions.livenessMs`. */
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
  /** Resolves once the hub has registered the subscription; rejects if it could not. */
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
  /**
   * Opens a feed (an announcement stream, such as a session channel), or joins it: the hub holds
   * one connection for every tab and opens each run it announces, so session subscribers follow
   * server-started runs with no page code. It lives while this relay does, or until `closeFeed`.
   */
  openFeed(spec: FeedSpec): Promise<FeedSummary>
  /**
   * Stops holding the run's connection before its end, for every tab: the run fails with `closed`
   * and keeps what it logged; `open()` resumes it. This does not stop the server's generation: call
   * your server's cancel endpoint for that (the reference protocol: `GET /api/chat/cancel?stream_id=`).
   */
  close(runId: string): Promise<void>
  /** This relay no longer needs the feed; the hub closes it once no tab does. */
  closeFeed(feedId: string): Promise<void>
  /** Follows one run or a session's runs. Returns the function that stops it. */
  subscribe(target: SubscriptionTarget, handlers: RunHandlers, options?: SubscribeOptions): Unsubscribe
  /** Calls `listener` with every run the hub holds, at once and after every change. */
  watchRuns(listener: (runs: RunSummary[]) => void): () => void
  /**
   * The session's live run: the latest run of `sessionId` that the hub holds and that has neither
   * ended nor failed, opened by any tab or announced by a feed; `undefined` when none. A page that
   * comes back to a session (a chat switch, a second tab) subscribes to it instead of asking its
   * server again.
   * @example
   * const live = await relay.activeRun(chatId)
   * if (live) relay.subscribe({ runId: live.runId }, handlers)
   */
  activeRun(sessionId: string): Promise<RunSummary | undefined>
  /** The hub's figures: runs, server connections open now and opened in total, subscriptions per tab, feeds, the budget (for the inspector, tests and debugging). */
  diagnostics(): Promise<HubDiagnostics>
  /** Drops this client's subscriptions and rejects pending calls with `disposed`. */
  dispose(): void
}
