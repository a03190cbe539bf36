/**
 * The public model: what an app sees of runs (specs, events, statuses, summaries, errors).
 *
 * Read by apps (`index.ts` re-exports it), by the page's files, and by `worker/`, which holds
 * runs of this shape. Types only: importers `import type` it, so it adds no bytes to
 * either bundle. Imports nothing.
 */

/**
 * Where a run's connection stands. Changed in one place only: `runStatusReducer` (`worker/run-state.ts`).
 *
 * - `connecting`: the first connection is being opened.
 * - `open`: the server accepted the stream and events flow.
 * - `reconnecting`: the connection dropped; the hub will reopen it from its server cursor.
 * - `parked`: closed on purpose to respect the connection budget; resumed from its server cursor later.
 * - `ended`: a terminal event arrived. Final.
 * - `failed`: the hub gave up (see the run's `error`). Final.
 */
/**
 * `stalled`: the connection is open but nothing has arrived, not even a heartbeat, for
 * `stalledAfterMs` (a producer that died, a proxy that holds the response): a hint to show, never
 * final; the next byte makes it `open` again, and the silence timeout reconnects it.
 */
export type RunStatus = 'connecting' | 'open' | 'stalled' | 'reconnecting' | 'parked' | 'ended' | 'failed'

/** How the hub asks the server to resume after a dropped connection. */
export type ResumeStrategy =
  /** A query parameter: `value: 'seq'` sends the server's last seq (0 before any event, which asks for a full replay); `'event-id'` sends the last event id verbatim. */
  | {
      /** Resume with a query parameter. */
      kind: 'query'
      /** The parameter's name (`after_seq` in the reference protocol). */
      param: string
      /** What it carries: the server's last seq, or the last event id verbatim. */
      value: 'seq' | 'event-id'
    }
  /** The standard `Last-Event-ID` request header. Only the fetch transport can set it on a reconnect it opens itself. */
  | {
      /** Resume with the `Last-Event-ID` header. */
      kind: 'header'
    }
  /**
   * The server replays the whole run on every connection (AI SDK resumable streams): the hub skips
   * what it holds, by id, or by count when there are no ids. Once events had ids, a reconnect adds
   * `after_event_id=<last id>`, which run-relay/server's UI stream honours (only the rest comes).
   */
  | {
      /** The server replays the run from its start. */
      kind: 'replay'
    }
  /** The server cannot resume (OpenAI-style completions): a drop after the first event fails the run with `unresumable`, never a silent hole. */
  | {
      /** No resume: a drop mid-run fails the run. */
      kind: 'none'
    }
  /**
   * Durable Streams: the offset travels in the body, in `event: control` data (`streamNextOffset`,
   * `streamCursor`, the stream cursor), echoed as `offset=` and `cursor=` on the next request (`offset=-1` and
   * `live=sse` on the first, unless the URL has them). Control events never reach the app and are
   * never counted; `streamClosed: true` ends the run; a clean close is a reconnect.
   */
  | {
      /** Resume from the Durable Streams offset of the last control event. */
      kind: 'offset'
    }

/**
 * How the server identifies events (see the server contract guide, docs/server-contract.md).
 * - `seq`: a gapless number, optionally `<run>:<n>`. Enables gap detection and `after_seq` resume.
 * - `opaque`: compared for equality only (timestamps, UUIDs, offsets). Resume echoes the last id. No gap detection.
 * - `none`: no ids. A reconnect replays the run from its start and the hub skips by count what it holds.
 */
export type IdScheme = 'seq' | 'opaque' | 'none'

/** How a run or a feed reconnects after a drop (`RunSpec.reconnect`, `FeedSpec.reconnect`). */
export interface ReconnectPolicy {
  /** The delay scale of the first reconnect, in ms: each delay is random (full jitter) below `baseMs * 2^attempt`. @defaultValue 500 */
  baseMs?: number
  /** No single delay exceeds this, in ms. @defaultValue 15 000 */
  maxMs?: number
  /** Reconnects in a row without a new event before the run fails with `retries_exhausted`. @defaultValue 8 */
  maxRetries?: number
  /** 5xx answers (not 503) without `Retry-After` in a row after which a run fails: its server is failing, not busy. Feeds retry any status within `maxRetries`. @defaultValue 3 */
  maxServerErrors?: number
}

/** How a run ends. Any one of these ends it; the hub then never reconnects. */
export interface RunEnd {
  /** Event names after which the server ends the run. In the reference protocol `done` is NOT one: `title` and `stream_end` follow it. */
  events?: string[]
  /** A data value that ends the run, as OpenAI-style and AI SDK streams send `data: [DONE]`. `null`: none. */
  data?: string | null
  /**
   * A response that ends cleanly after at least one new event is the end (servers that end by
   * closing). `'no-ids'`: only for a run whose server sends no ids.
   */
  onClose?: boolean | 'no-ids'
}

/**
 * Named server contracts. Each sets `ids`, `end`, `resume`, `events` and, where only fetch can do
 * the job, `transport`; fields of the spec override the preset's.
 * - `reference`: the reference chat protocol (named events, `id: <run>:<seq>`, `after_seq`, `stream_end`).
 * - `ai-sdk`: the Vercel AI SDK UI message stream (`data:` JSON chunks, `[DONE]`, a resume GET that replays from the start).
 * - `openai`: OpenAI-style chat-completions SSE (`data:` chunks, `[DONE]`, no resume).
 * - `last-event-id`: a generic SSE server: ids in any format, `Last-Event-ID` resume, ends with `[DONE]` or by closing.
 * - `durable-streams`: a Durable Streams server's SSE mode (`live=sse`): offsets from its control
 *   events (`resume: { kind: 'offset' }`), the end on `streamClosed`, `Stream-SSE-Data-Encoding:
 *   base64` decoded (as UTF-8 text), and its periodic clean closes resumed from the offset.
 */
export type ServerPreset = 'reference' | 'ai-sdk' | 'openai' | 'last-event-id' | 'durable-streams'

/** Which HTTP client opens the stream. */
export type TransportKind = 'eventsource' | 'fetch'

/**
 * Everything the hub needs to open (or join) one run. Plain data, so it can be
 * cloned to the worker.
 */
export interface RunSpec {
  /** The run's id; for the reference chat server this is the `stream_id`. */
  runId: string
  /**
   * The session (chat) the run belongs to. Session subscribers follow every run of it.
   * @defaultValue the `runId`: a stream of its own (a Durable Streams stream, say)
   */
  sessionId?: string
  /** The SSE endpoint. Relative URLs resolve against the page. Cross-origin URLs are refused unless allow-listed. */
  url: string
  /**
   * The server's contract by name; the fields below override it. Without a preset the defaults
   * are safe for any server: ids are compared for equality only (a run without faults is served
   * by one connection whatever its id format), a server without ids is `none`, `data: [DONE]` and
   * the reference protocol's end events end a run, and so does a clean close when there are no ids.
   */
  preset?: ServerPreset
  /**
   * `'fetch'` (fetch + eventsource-parser) holds the origin allow-list (it refuses redirects), bounds a
   * line at `maxEventSize`, and sees the status, `Retry-After`, heartbeats and every event name.
   * `'eventsource'` (the native one) follows redirects unseen, buffers an endless line natively,
   * and needs a probe request to learn a failed status: choose it knowingly (docs/server-contract.md, "Transports").
   * @defaultValue `'fetch'`
   */
  transport?: TransportKind
  /**
   * Event names the EventSource transport listens to (it only dispatches named events to
   * listeners of that name); unnamed events (`message`) always count. The fetch transport forwards
   * every event unless this is given. `diagnostics()` lists what each run listens to.
   * @defaultValue the reference chat protocol's names plus `message`
   */
  events?: string[]
  /** How the server identifies events. @defaultValue from the preset; else `opaque` when an event has an id, `none` when not */
  ids?: IdScheme
  /** How a run ends. @defaultValue from the preset; else `{ events: ['stream_end', 'cancel', 'apperror', 'error'], data: '[DONE]', onClose: 'no-ids' }` */
  end?: RunEnd
  /**
   * @defaultValue from the preset; else `after_seq=0` on the first request (a full replay, for
   * servers that know it), then `after_event_id=<last id>` and, with fetch, `Last-Event-ID`
   */
  resume?: ResumeStrategy
  /** Send cookies cross-origin (EventSource `withCredentials`, fetch `credentials: 'include'`). @defaultValue false */
  withCredentials?: boolean
  /** fetch transport only. @defaultValue `'GET'` */
  method?: 'GET' | 'POST'
  /** fetch transport only. */
  headers?: Record<string, string>
  /** fetch transport only. */
  body?: string
  /**
   * Where reconnects go, with GET and no body, when the first request is not one to repeat: a POST
   * that starts the turn and answers with its stream (AI SDK `POST /api/chat`, resumed with
   * `GET /api/chat/{id}/stream`). Same rules as `url`. @defaultValue `url`, with the first request's method and body
   */
  resumeUrl?: string
  /** How long an ended run's transcript stays in the hub after its terminal event. @defaultValue 5 minutes */
  retentionMs?: number
  /**
   * Reconnect (from the cursor) when nothing arrives for this long: a half-open connection never
   * leaves a run `open` for ever. The fetch transport counts heartbeat comments too; EventSource
   * hides them, so there only events count. 0 turns it off.
   * @defaultValue 20 000 with the fetch transport (4 missed heartbeats of the reference protocol);
   * 45 000 with EventSource (the reference protocol sends `metering` every second while a run is active)
   */
  silenceTimeoutMs?: number
  /**
   * Reconnect policy: full-jitter backoff between `baseMs` and `maxMs`, and how many reconnects in a
   * row without a new event before failing with `retries_exhausted`. Only an event the hub did not
   * hold counts as progress, so a run opens at most `maxRetries + 1` connections per new event,
   * plus `maxRetries + 1`, whatever the server does (waiting offline opens none). A server that
   * answers 5xx (not 503) with no `Retry-After` `maxServerErrors` times in a row is failing, not busy: the run
   * fails then (in seconds, not after every retry).
   * @defaultValue `{ baseMs: 500, maxMs: 15 000, maxRetries: 8, maxServerErrors: 3 }`
   */
  reconnect?: ReconnectPolicy
  /** The server must answer with headers within this long, else the attempt counts as failed. @defaultValue 10 000 */
  connectTimeoutMs?: number
  /**
   * An open connection that receives nothing, heartbeats included, for this long makes the run
   * `stalled` (a status for the UI) until the next byte. 0 turns it off.
   * @defaultValue half the silence timeout: 10 000 with fetch, 22 500 with EventSource
   */
  stalledAfterMs?: number
  /** The largest event accepted, in characters; a larger one fails the run with `oversize`. @defaultValue 1 MiB */
  maxEventSize?: number
  /** Caps of this run's log; the oldest events are dropped first. @defaultValue 100 000 events, 64 MiB */
  logLimits?: {
    /** The most events the log holds. */
    maxEvents?: number
    /** The most the log holds, in bytes, an event counted as two bytes per character of its name, data and id, plus 32. */
    maxBytes?: number
  }
  /**
   * A server event id the page has already rendered (say, restored after a reload). If the hub
   * does not hold the run yet, its first connection asks only for what follows. Ignored when joining.
   */
  resumeFrom?: string
}

/**
 * A long-lived announcement stream (a feed): a per-session channel or an app-wide one, on which
 * the server announces runs it started by itself (cron, self-wake, another device). The hub holds
 * one connection per feed for every tab, within the connection budget, reconnects it like a run,
 * and opens each announced run, so session subscribers follow it with no page code.
 * Plain data: functions cannot cross to the worker, so announcements are matched declaratively.
 */
export interface FeedSpec {
  /** The feed's id: opening the same id again, from any tab, joins it. */
  feedId: string
  /** The SSE endpoint of the feed. Same rules as `RunSpec.url`. */
  url: string
  /** As for runs. @defaultValue `'fetch'` */
  transport?: TransportKind
  /** Send cookies cross-origin. @defaultValue false */
  withCredentials?: boolean
  /** fetch transport only. */
  headers?: Record<string, string>
  /** Which events announce a run, and how to build that run's spec from the announcement. */
  announces: Announcement[]
  /** Reconnect policy, as for a run; a successful open counts as progress, so a feed that is idle for hours is never given up on. */
  reconnect?: ReconnectPolicy
  /** @defaultValue as for runs: 45 s with EventSource, 20 s with fetch */
  silenceTimeoutMs?: number
}

/**
 * One kind of announcement. Its data must be a JSON object; `{field}` in the strings of `run`
 * is replaced by that field of it (URL-encoded inside `url`).
 *
 * @example
 * { event: 'server_turn_started',
 *   run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }
 */
export interface Announcement {
  /** The SSE event name that announces a run. */
  event: string
  /** The announced run's spec, with `{field}` placeholders in `runId`, `sessionId` and `url`. */
  run: RunSpec
}

/** What the hub tells about a feed. */
export interface FeedSummary {
  /** The feed's id, as opened. */
  feedId: string
  /** The status of the feed's connection. */
  status: RunStatus
  /** Announcements that opened (or joined) a run. */
  announced: number
  /** Announcements that could not be turned into a run (not JSON, a missing field, a refused URL); the last reason is in `error`. */
  rejected: number
  /** Why the last announcement was rejected, or why the feed failed. */
  error?: RunError
}

/** One event of a run, as the hub logged it. */
export interface RunEvent {
  /** The hub's own gapless sequence number within the run, from 1. Subscriptions' log cursors refer to it. */
  seq: number
  /** The SSE event name (`message` when the server sent none). */
  type: string
  /** The event's data, verbatim. Decoding is the app's choice. */
  data: string
  /** The SSE `id:` field, when the server sent one. */
  id?: string
  /** Page side, with `decode: 'json'`: the parsed data. */
  json?: unknown
  /** Page side, with `decode: 'json'`: why the data is not JSON (the event is still delivered). */
  decodeError?: string
}

/** Where a new subscription starts reading a run's log (for a session subscription: its current run; later runs start at the beginning). */
export type StartAt =
  /** Every event the hub still holds, then live ones. */
  | 'beginning'
  /** Only events that arrive after subscribing. */
  | 'live'
  /** Events after this hub `seq` (the last one the subscriber already has, from this hub). */
  | {
      /** The hub `seq` of the last event the subscriber has. */
      afterSeq: number
    }
  /**
   * Events after this server event id: the page cursor, the last event the page has rendered. Unlike a hub
   * `seq` it stays valid across hubs, so a page restored after a reload resumes with it.
   */
  | {
      /** The server id of the last event the page has rendered. */
      afterEventId: string
      /** The run the page cursor belongs to: a session subscription whose current run is another one starts at that run's beginning. */
      runId?: string
    }

/** What a subscription follows: one run, or a session's current and every later run. */
export type SubscriptionTarget =
  | {
      /** The run to follow. */
      runId: string
    }
  | {
      /** The session whose current run, and every later one, to follow. */
      sessionId: string
    }

/** Why a run failed or what a subscriber must know. Travels as data: Comlink loses error classes. */
export type RunErrorCode =
  /** The server answered 401 or 403. Not retried. */
  | 'auth'
  /** The server does not know the run (404). Not retried. */
  | 'not_found'
  /** Another HTTP status the hub will not retry. */
  | 'http'
  /** Reconnecting failed too often; the hub gave up. */
  | 'retries_exhausted'
  /** The stream URL is malformed or cross-origin and not allow-listed. */
  | 'url_refused'
  /** The spec is invalid (message says how to fix it). */
  | 'invalid_spec'
  /** One event exceeded the hub's size limit (`maxEventSize`). Not retried: the server would send it again. */
  | 'oversize'
  /** The server answered something that is not an event stream: a 200 with another content type (an HTML login page), a redirect, a body that is not UTF-8. Not retried. */
  | 'bad_response'
  /** The connection dropped mid-run and the server cannot resume (`resume: { kind: 'none' }`): what follows is lost. */
  | 'unresumable'
  /** The app closed the run (`relay.close(runId)`) before its end. Opening it again resumes it. */
  | 'closed'
  /**
   * A cross-origin stream's server answers, but its response (or preflight) lacks the CORS headers
   * that let this page's origin read it. Not retried; the message names the origin and the header.
   */
  | 'cors'

/** A run failure, as data (see `RunErrorCode`). */
export interface RunError {
  /** Always `'error'`: tells a `RunError` apart from other data. */
  type: 'error'
  /** What went wrong, as a code the app can branch on. */
  code: RunErrorCode
  /** What happened and, where it can, how to fix it. */
  message: string
  /** The HTTP status, when one was seen. */
  status?: number
}

/**
 * Why a subscriber's transcript needs a rebuild.
 * - `log_truncated`: its cursor fell out of the hub's log (the per-run caps dropped those events).
 * - `server_lost_events`: the server could not replay what was missed (restart without a journal).
 */
export type ResyncReason = 'log_truncated' | 'server_lost_events'

/** What the registry shows about one run. */
export interface RunSummary {
  /** The run's id. */
  runId: string
  /** The session (chat) the run belongs to. */
  sessionId: string
  /** The run's status now. */
  status: RunStatus
  /** Events in the log (the last hub seq). */
  eventCount: number
  /** Live subscriptions on this run, from every tab. */
  subscriberCount: number
  /** The run ended or failed while nobody was subscribed: the app may show an unread marker. */
  finishedUnwatched: boolean
  /** The server lost events of this run that it cannot replay (see `server_lost_events`): its transcript has a hole. */
  incomplete: boolean
  /** Why the run failed, when it did. */
  error?: RunError
}

