import type { Announcement, FeedSpec, FeedSummary, RunError, RunSpec } from '../src/protocol.ts'
import { Connection, fatalError, type ConnectionEnv } from './connection.ts'
import { STREAM_DEFAULTS } from './hub-options.ts'
import { resolveStream, type ResolvedStream, type StreamSettings } from './resolve-run.ts'
import { isFinal, runStatusReducer, type RunAction, type RunState } from './run-status.ts'
import type { StreamFields } from './server-contract.ts'
import { ServerCursor } from './server-cursor.ts'
import { Subscribable } from './subscribable.ts'
import type { DropReason } from './transport.ts'

/** What a feed tells its listener (the hub). */
export type FeedNotice =
  /** `action` changed the feed's status. */
  | { type: 'transition'; action: RunAction }
  /** An event announced this run: the hub opens or joins it, and says how that went (`announced`, `reject`). */
  | { type: 'announcement'; spec: RunSpec }

/**
 * A feed: a long-lived announcement stream whose events open the runs they announce. It has its
 * own reconnecting connection and status (it parks and counts in the budget like a run), but no
 * log: each event is read as it arrives.
 */
export class Feed extends Subscribable<FeedNotice> {
  readonly spec: FeedSpec
  /** The order in which the hub opened it, shared with runs: the budget serves earlier ones first. */
  readonly openOrder: number
  /** Clients that opened the feed; the hub closes it when the last one is gone. */
  readonly holders = new Set<string>()
  announced = 0
  rejected = 0
  lastError: RunError | undefined
  #state: RunState = { status: 'connecting' }
  #started = false
  readonly #cursor: ServerCursor
  readonly #connection: Connection

  constructor(spec: FeedSpec, stream: ResolvedStream, env: ConnectionEnv, openOrder: number) {
    super()
    this.spec = spec
    this.openOrder = openOrder
    this.#cursor = new ServerCursor(stream.contract)
    this.#connection = new Connection(stream, env, this.#cursor, {
      onOpen: () => this.#dispatch({ type: 'opened' }),
      onEvent: (type, data, id) => this.#receive(type, data, id),
      onDrop: (reason) => this.#dropped(reason),
      onReconnectDue: () => this.#connect(),
    })
  }

  get status() {
    return this.#state.status
  }

  get connected(): boolean {
    return this.#connection.connected
  }

  get connectionsOpened(): number {
    return this.#connection.opened
  }

  summary(): FeedSummary {
    const summary: FeedSummary = { feedId: this.spec.feedId, status: this.status, announced: this.announced, rejected: this.rejected }
    const error = this.lastError ?? this.#state.error
    if (error) summary.error = error
    return summary
  }

  reject(message: string): void {
    this.rejected++
    this.lastError = { type: 'error', code: 'invalid_spec', message: `Feed ${this.spec.feedId}: ${message}` }
  }

  start(): void {
    if (this.#started) return
    this.#started = true
    this.#connect()
  }

  park(): void {
    this.#connection.close()
    this.#dispatch({ type: 'parked' })
  }

  resume(): void {
    if (this.status !== 'parked') return
    this.#dispatch({ type: 'resumed' })
    this.#started = true
    this.#connect()
  }

  /** Opened again after it failed: reconnect with a fresh retry budget. */
  retry(): void {
    if (this.status !== 'failed') return
    this.#connection.resetRetries()
    this.#dispatch({ type: 'retry' })
    this.#connect()
  }

  /** The network is back (see `Run.reconnectNow`). */
  reconnectNow(): void {
    if (this.status === 'failed' && this.#state.error?.code === 'retries_exhausted') return this.retry()
    if (this.status !== 'reconnecting') return
    this.#connection.reconnectNow()
  }

  close(): void {
    this.#connection.close()
  }

  #connect(): void {
    if (isFinal(this.status) || this.status === 'parked') return
    this.#connection.open()
  }

  #dispatch(action: RunAction): void {
    const next = runStatusReducer(this.#state, action)
    if (next === this.#state) return
    this.#state = next
    if (isFinal(next.status)) this.#connection.close()
    this.notify({ type: 'transition', action })
  }

  /** An event: announcements are never skipped as replays (opening a run twice joins it), only events whose id was seen. */
  #receive(type: string, data: string, id: string | undefined): void {
    if (this.#cursor.ingest(id).kind !== 'new') return
    this.#connection.progress()
    const announcement = this.spec.announces.find((candidate) => candidate.event === type)
    if (!announcement) return
    const spec = announcedSpec(announcement, data)
    if (typeof spec === 'string') return this.reject(spec)
    this.notify({ type: 'announcement', spec })
  }

  #dropped(reason: DropReason): void {
    if (isFinal(this.status) || this.status === 'parked') return
    const error = fatalError(reason)
    if (error === 'ended') return this.#dispatch({ type: 'terminal' })
    if (error) return this.#dispatch({ type: 'failed', error })
    this.#connection.reconnect(reason, (action) => this.#dispatch(action))
  }
}

/**
 * A feed's stream, resolved, or why its spec is refused. A feed never ends by itself, and echoes
 * its last id if its server sends ids; the reference server re-announces every live run on
 * subscribe instead, so nothing announced while down is lost.
 */
export function resolveFeed(spec: FeedSpec, settings: StreamSettings, baseUrl: string): ResolvedStream | RunError {
  const problem = feedSpecProblem(spec)
  if (problem) return { type: 'error', code: 'invalid_spec', message: problem }
  const fields: StreamFields = {
    url: spec.url,
    transport: spec.transport,
    events: [...new Set(spec.announces.map((announcement) => announcement.event))],
    end: { events: [], data: null, onClose: false },
    resume: { kind: 'query', param: 'last_event_id', value: 'event-id' },
  }
  if (spec.withCredentials !== undefined) fields.withCredentials = spec.withCredentials
  if (spec.headers !== undefined) fields.headers = spec.headers
  if (spec.reconnect !== undefined) fields.reconnect = spec.reconnect
  if (spec.silenceTimeoutMs !== undefined) fields.silenceTimeoutMs = spec.silenceTimeoutMs
  const stream = resolveStream(fields, settings, baseUrl)
  if ('type' in stream) return stream
  // A feed may be idle for hours: staying open counts as progress, while a server that accepts
  // and closes at once still uses up the retries.
  return { ...stream, timeouts: { ...stream.timeouts, healthyMs: STREAM_DEFAULTS.feedHealthyMs } }
}

/** What is wrong with a feed spec from the page, or undefined. */
export function feedSpecProblem(spec: FeedSpec): string | undefined {
  if (typeof spec?.feedId !== 'string' || !spec.feedId) return 'FeedSpec.feedId must be a non-empty string.'
  if (!Array.isArray(spec.announces) || spec.announces.length === 0) {
    return "FeedSpec.announces must list at least one announcement, e.g. { event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }."
  }
  for (const { event, run } of spec.announces) {
    if (typeof event !== 'string' || !event) return 'Each announcement needs the `event` name that announces a run.'
    if (typeof run?.runId !== 'string' || typeof run.sessionId !== 'string' || typeof run.url !== 'string') {
      return `The announcement of '${event}' needs run.runId, run.sessionId and run.url templates, e.g. runId: '{stream_id}'.`
    }
  }
  return undefined
}

/**
 * The spec of the run an announcement describes: `{field}` in `runId`, `sessionId` and `url`
 * replaced by that field of the announcement's JSON data (URL-encoded inside `url`).
 * Returns why not, as a string, when the data does not fit.
 */
export function announcedSpec(announcement: Announcement, data: string): RunSpec | string {
  let fields: unknown
  try {
    fields = JSON.parse(data)
  } catch {
    return `the data of a '${announcement.event}' announcement is not JSON: ${data.slice(0, 80)}`
  }
  if (!fields || typeof fields !== 'object') return `the data of a '${announcement.event}' announcement is not a JSON object`
  const missing = new Set<string>()
  const fill = (template: string, encode: boolean) =>
    template.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = (fields as Record<string, unknown>)[name]
      if (typeof value !== 'string' && typeof value !== 'number') {
        missing.add(name)
        return ''
      }
      return encode ? encodeURIComponent(String(value)) : String(value)
    })
  const { run } = announcement
  const spec: RunSpec = { ...structuredClone(run), runId: fill(run.runId, false), sessionId: fill(run.sessionId, false), url: fill(run.url, true) }
  if (missing.size > 0) return `a '${announcement.event}' announcement has no ${[...missing].join(', ')} field (string or number)`
  return spec
}
