import type { ResyncReason, RunError, RunSpec, RunSummary, TransportKind } from '../src/model.ts'
import { backoffDelay, type BackoffPolicy } from './backoff.ts'
import { contractOf, isInterruption, type ServerContract } from './server-contract.ts'
import { ServerCursor, type Ingest } from './server-cursor.ts'
import type { StreamUrls } from './spec-check.ts'
import { EventLog, type EventLogLimits } from './event-log.ts'
import { isFinal, runStatusReducer, type RunAction, type RunState } from './run-status.ts'
import type { HubSubscription } from './subscription.ts'
import type { DropReason, StreamConnection, Transport } from './transport.ts'

/** What a run needs from the hub around it. */
export interface RunHost {
  transport: Transport
  limits: EventLogLimits
  backoff: BackoffPolicy
  maxRetries: number
  maxEventSize: number
  /** Reconnect after this long without an event (or, with the fetch transport, a heartbeat); 0: never. */
  silenceTimeoutMs(spec: RunSpec, transport: TransportKind): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  random(): number
  /** A monotonic clock in ms (the silence watchdog). */
  now(): number
  /** The browser's view of the network: a drop while offline waits for `online` and costs no retry. */
  isOnline(): boolean
  /** A run waits for the network: the hub reconnects it (`reconnectNow`) once the browser is online. */
  waitForNetwork(): void
  /** A new event is in the log, with this hub seq. */
  onEvent(run: Run, seq: number): void
  /** `action` changed the run's status (the hub never has to work out what changed). */
  onTransition(run: Run, action: RunAction): void
  /** The transcript has a hole that reconnecting cannot fill, after the log's last event. */
  onResync(run: Run, hole: Hole): void
}

/** How long a server may take to answer with headers, unless the spec says otherwise. */
const CONNECT_TIMEOUT_MS = 10_000

/** How long a feed's connection must stay open to count as progress. */
const HEALTHY_MS = 5000

/** A place in a run's log where the server lost events it cannot replay. */
export interface Hole {
  /** The hole lies after the event with this hub seq (0: before the first). */
  afterSeq: number
  reason: ResyncReason
  message: string
}

/**
 * One run: its server connection, its log and its status. Holds at most one
 * connection, from `start()` until a terminal event or a final failure, except
 * while parked by the connection budget.
 */
export class Run {
  #spec: RunSpec
  readonly log: EventLog
  readonly subscriptions = new Set<HubSubscription>()
  /** The order in which the hub opened its runs: the budget serves earlier runs first. */
  readonly openOrder: number
  connectionsOpened = 0
  finishedUnwatched = false
  /** Every hole the run's transcript has, in log order: a subscriber whose catch-up crosses one is told, in its place. */
  readonly holes: Hole[] = []
  #state: RunState = { status: 'connecting' }
  #started = false
  #host: RunHost
  #url: URL
  #resumeUrl: URL | undefined
  #connection: StreamConnection | undefined
  #reconnectTimer: unknown
  #silenceTimer: unknown
  /** When the current connection last showed a sign of life (host clock). */
  #heardAt = 0
  #healthyTimer: unknown
  #attempt = 0
  #connectTimer: unknown
  #retryMs: number | undefined
  #contract: ServerContract
  /** The server's cursor: resume, and the one place that tells new events from replayed ones. */
  #cursor: ServerCursor
  /** New events on the current connection: a clean close after some may be the end (`end.onClose`). */
  #newOnConnection = 0
  /** The cursor at which a seq jump was last repaired: a second jump there is loss the server cannot fill. */
  #gapRepairedAt: bigint | undefined
  /** A clean close that may have been a cut (`closed` with `unverified`) is being confirmed by one more connection. */
  #confirmingEnd = false

  /**
   * With `progressOnOpen`, a connection that stays open `HEALTHY_MS` counts as progress (a feed may
   * be idle for hours), while a server that accepts and closes at once still uses up the retries.
   */
  readonly #progressOnOpen: boolean

  constructor(spec: RunSpec, urls: StreamUrls, host: RunHost, openOrder: number, options: { progressOnOpen?: boolean } = {}) {
    this.#spec = spec
    this.#url = urls.url
    this.#resumeUrl = urls.resumeUrl
    this.#host = host
    this.openOrder = openOrder
    this.#progressOnOpen = options.progressOnOpen ?? false
    this.log = new EventLog({ ...host.limits, ...spec.logLimits })
    this.#contract = contractOf(spec)
    this.#cursor = new ServerCursor(this.#contract, spec.resumeFrom)
  }

  get spec(): RunSpec {
    return this.#spec
  }

  /** The resolved server contract (preset and spec fields). */
  get contract(): ServerContract {
    return this.#contract
  }

  get status() {
    return this.#state.status
  }

  get connected(): boolean {
    return this.#connection !== undefined
  }

  summary(): RunSummary {
    const { runId, sessionId } = this.spec
    const summary: RunSummary = {
      runId,
      sessionId,
      status: this.#state.status,
      eventCount: this.log.lastSeq,
      subscriberCount: this.subscriptions.size,
      finishedUnwatched: this.finishedUnwatched,
      incomplete: this.holes.length > 0,
    }
    if (this.#state.error) summary.error = this.#state.error
    return summary
  }

  /** Opens the first connection (once). */
  start(): void {
    if (this.#started) return
    this.#started = true
    this.#connect()
  }

  /** Closes the connection to free a slot of the connection budget; `resume()` reopens it from the cursor. */
  park(): void {
    this.#disconnect()
    this.#dispatch({ type: 'parked' })
  }

  resume(): void {
    if (this.status !== 'parked') return
    this.#dispatch({ type: 'resumed' })
    this.#started = true
    this.#connect()
  }

  /**
   * A failed run opened again: reconnect from the cursor with a fresh retry budget, and with the
   * spec it was opened with this time (new headers after a sign-in, a new URL).
   */
  /** The URLs this run connects to, as checked when it was opened. */
  get urls(): StreamUrls {
    return { url: this.#url, resumeUrl: this.#resumeUrl }
  }

  retry(spec?: RunSpec, urls?: StreamUrls): void {
    if (this.status !== 'failed') return
    if (spec && urls) {
      this.#spec = spec
      this.#url = urls.url
      this.#resumeUrl = urls.resumeUrl
      this.#contract = { ...contractOf(spec), ids: this.#contract.ids } // the cursor keeps its scheme
    }
    this.#attempt = 0
    this.#dispatch({ type: 'retry' })
    this.#connect()
  }

  /**
   * The network is back: a run waiting for it, or out its backoff, reconnects at once, and so
   * does one that gave up on reconnecting (`retries_exhausted`): only the server can say a run is gone.
   */
  reconnectNow(): void {
    if (this.status === 'failed' && this.#state.error?.code === 'retries_exhausted') return this.retry()
    if (this.status !== 'reconnecting' || this.#connection) return
    this.#host.clearTimeout(this.#reconnectTimer)
    this.#connect()
  }

  /** The app no longer wants the run held (`relay.close`): it fails with `closed`; opening it again resumes it. */
  closeByApp(): void {
    if (isFinal(this.status)) return
    this.#dispatch({ type: 'failed', error: { type: 'error', code: 'closed', message: `Run ${this.spec.runId} was closed by the app; open it again to resume.` } })
  }

  /** Closes the connection and cancels timers; the run keeps its log. */
  close(): void {
    this.#disconnect()
  }

  #disconnect(): void {
    this.#connection?.close()
    this.#connection = undefined
    this.#host.clearTimeout(this.#reconnectTimer)
    this.#stopTimers()
  }

  #stopTimers(): void {
    this.#host.clearTimeout(this.#silenceTimer)
    this.#silenceTimer = undefined
    this.#host.clearTimeout(this.#healthyTimer)
    this.#host.clearTimeout(this.#connectTimer)
  }

  #dispatch(action: RunAction): void {
    const next = runStatusReducer(this.#state, action)
    if (next === this.#state) return
    this.#state = next
    if (isFinal(next.status)) {
      this.#disconnect()
      if (this.subscriptions.size === 0) this.finishedUnwatched = true
    }
    this.#host.onTransition(this, action)
  }

  #connect(): void {
    if (isFinal(this.status) || this.status === 'parked') return
    // A reconnect goes to `resumeUrl` when there is one (a GET), never repeating a POST that starts a turn.
    const resuming = this.connectionsOpened > 0 && this.#resumeUrl !== undefined
    const { url, headers } = this.#cursor.request(resuming ? this.#resumeUrl! : this.#url)
    const method = resuming ? 'GET' : (this.spec.method ?? 'GET')
    const body = resuming ? undefined : this.spec.body
    this.connectionsOpened++
    this.#newOnConnection = 0
    this.#cursor.connected()
    const connectTimeoutMs = this.spec.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
    this.#connectTimer = this.#host.setTimeout(() => this.#connectTimedOut(connectTimeoutMs), connectTimeoutMs)
    this.#connection = this.#host.transport({ url, headers, method, body, spec: this.spec, contract: this.#contract }, {
      onOpen: () => {
        this.#host.clearTimeout(this.#connectTimer)
        if (this.#progressOnOpen) this.#healthyTimer = this.#host.setTimeout(() => (this.#attempt = 0), HEALTHY_MS)
        this.#heard()
        this.#dispatch({ type: 'opened' })
      },
      onEvent: (type, data, id) => {
        this.#heard()
        this.#receive(type, data, id)
      },
      onComment: () => this.#heard(),
      onRetry: (ms) => {
        this.#retryMs = ms
      },
      onDrop: (reason) => this.#dropped(reason),
    })
    this.#heard()
  }

  /** No answer within the connect timeout: a silent connection, retried; its transport may know more (a hidden redirect). */
  #connectTimedOut(connectTimeoutMs: number): void {
    const timeout: DropReason = { kind: 'timeout', message: `No response headers within ${connectTimeoutMs} ms` }
    const connection = this.#connection
    if (!connection?.explainTimeout) return this.#dropped(timeout)
    void connection.explainTimeout(timeout, connectTimeoutMs).then((reason) => {
      if (this.#connection === connection) this.#dropped(reason)
    }, () => this.#connection === connection && this.#dropped(timeout))
  }

  /**
   * Any sign of life counts against the silence watchdog. One timer per connection, re-armed for
   * the time left when it fires: no timer churn per event at thousands of events a second.
   */
  #heard(): void {
    this.#heardAt = this.#host.now()
    if (this.#silenceTimer === undefined) this.#watchSilence(this.#host.silenceTimeoutMs(this.spec, this.#contract.transport))
  }

  #watchSilence(waitMs: number): void {
    const timeoutMs = this.#host.silenceTimeoutMs(this.spec, this.#contract.transport)
    if (timeoutMs <= 0 || !this.#connection) return
    this.#silenceTimer = this.#host.setTimeout(() => {
      this.#silenceTimer = undefined
      const idle = this.#host.now() - this.#heardAt
      if (idle < timeoutMs) return this.#watchSilence(timeoutMs - idle)
      this.#connection?.close()
      this.#dropped({ kind: 'silence', message: `Nothing arrived for ${timeoutMs} ms` })
    }, waitMs)
  }

  #receive(type: string, data: string, id: string | undefined): void {
    const maxEventSize = this.spec.maxEventSize ?? this.#host.maxEventSize
    if (data.length > maxEventSize) {
      return this.#dropped({ kind: 'oversize', message: `A ${type} event of ${data.length} characters exceeds the ${maxEventSize} limit` })
    }
    // [ingest] The server cursor is parsed here, once, and kept with the event in the log.
    const ingest = this.#cursor.ingest(id)
    if (ingest.kind === 'duplicate' || ingest.kind === 'lost') return // a replay, or loss already told: not progress
    const placed = ingest.kind === 'gap' ? this.#acceptGap(ingest, id!) : ingest
    if (!placed) return
    // Only a new event is progress and resets the backoff: a server that accepts and closes at
    // once, or replays what the hub holds, cannot turn into an endless reconnect loop.
    this.#attempt = 0
    this.#newOnConnection++
    this.#confirmingEnd = false // the run went on: that close was a cut
    if (isInterruption(type, id, this.#cursor.hasIds)) {
      this.#hole('server_lost_events', 'The server lost the live run and cannot replay the rest of it.')
    }
    this.#host.onEvent(this, this.log.append({ type, data, id, serverSeq: placed.serverSeq }))
    const { end } = this.#contract
    if (end.events.includes(type) || (end.data !== null && data.trim() === end.data)) this.#dispatch({ type: 'terminal' })
  }

  /**
   * A jump in the server's seq (or an id that went backwards) is the only sign of loss. The first
   * time, reopen from the last good cursor; if the server does it again from there, it cannot fill
   * the hole: accept the loss and say so. A jump's event is logged after the hole; a backwards
   * event cannot be placed and is dropped, with the rest of that connection's backwards events.
   */
  #acceptGap(gap: Extract<Ingest, { kind: 'gap' }>, id: string): Extract<Ingest, { kind: 'new' }> | undefined {
    const { why, serverSeq, expected } = gap
    const message = why === 'skipped'
      ? `The server skipped events ${expected}..${serverSeq - 1n}`
      : `The server sent seq ${serverSeq} after a higher one (ids went backwards) where ${expected} was due`
    if (this.#gapRepairedAt !== expected) {
      this.#gapRepairedAt = expected
      this.#connection?.close()
      this.#dropped({ kind: 'protocol', message })
      return undefined
    }
    if (why === 'skipped') {
      this.#hole('server_lost_events', `${message} and cannot replay them.`)
      return this.#cursor.skipGap(serverSeq, id)
    }
    this.#hole('server_lost_events', `${message}, again after a reconnect: such events cannot be placed and are dropped.`)
    this.#cursor.loseBackwards()
    return undefined
  }

  /** Keeps the hole with its place in the log, then tells the subscribers present. */
  #hole(reason: ResyncReason, message: string): void {
    const hole = { afterSeq: this.log.lastSeq, reason, message }
    this.holes.push(hole)
    this.#host.onResync(this, hole)
  }

  #dropped(reason: DropReason): void {
    this.#connection?.close()
    this.#connection = undefined
    this.#stopTimers()
    if (isFinal(this.status) || this.status === 'parked') return
    const error = fatalError(reason)
    const close = this.#closeMeans(reason)
    // While confirming an unverified clean end, a refusal (404 for a finished stream) leaves that end standing.
    if (error === 'ended' || close === 'end' || (error && this.#confirmingEnd)) return this.#dispatch({ type: 'terminal' })
    if (error) return this.#dispatch({ type: 'failed', error })
    if (close === 'confirm') {
      // One more connection, at once and not counted as a retry: nothing new and a close is the end; more events, a cut repaired.
      this.#confirmingEnd = true
      this.#dispatch({ type: 'dropped' })
      this.#reconnectTimer = this.#host.setTimeout(() => this.#connect(), 0)
      return
    }
    if (this.#contract.resume.kind === 'none' && this.log.lastSeq > 0) {
      const message = `The connection dropped after ${this.log.lastSeq} events and this server cannot resume (resume: none); the rest of the run is lost. Last: ${'message' in reason ? reason.message : 'the server closed the stream'}`
      return this.#dispatch({ type: 'failed', error: { type: 'error', code: 'unresumable', message } })
    }
    if (!this.#host.isOnline()) {
      // [offline] Waiting for the network is not a failed attempt: `online` reconnects (reconnectNow).
      this.#dispatch({ type: 'dropped' })
      return this.#host.waitForNetwork()
    }
    const { maxRetries = this.#host.maxRetries, ...backoff } = this.spec.reconnect ?? {}
    if (this.#attempt >= maxRetries) {
      const message = `Gave up after ${this.#attempt} reconnects without progress; last: ${'message' in reason ? reason.message : 'the server closed the stream'}`
      return this.#dispatch({ type: 'failed', error: { type: 'error', code: 'retries_exhausted', message } })
    }
    this.#dispatch({ type: 'dropped' })
    const jittered = backoffDelay(this.#attempt++, { ...this.#host.backoff, ...backoff }, this.#host.random, this.#retryMs)
    // [RFC 9110] A 429 or 503 with Retry-After says when to come back: never sooner (it is capped where parsed).
    const delay = reason.kind === 'http' && reason.retryAfterMs !== undefined ? Math.max(jittered, reason.retryAfterMs) : jittered
    this.#reconnectTimer = this.#host.setTimeout(() => this.#connect(), delay)
  }

  /**
   * [contract] `end.onClose`: a response that ends cleanly after at least one new event is the end.
   * A clean end the transport could not verify (`unverified`: WebKit's fetch reports a cut socket
   * as a clean end) is confirmed first by one more connection, unless that would repeat a POST.
   */
  #closeMeans(reason: DropReason): 'end' | 'confirm' | 'drop' {
    const { onClose } = this.#contract.end
    const applies = onClose === true || (onClose === 'no-ids' && !this.#cursor.hasIds)
    if (!applies || reason.kind !== 'closed') return 'drop'
    if (this.#newOnConnection === 0) return this.#confirmingEnd ? 'end' : 'drop'
    const repeatsPost = (this.spec.method ?? 'GET') !== 'GET' && this.#resumeUrl === undefined
    return reason.unverified && !repeatsPost ? 'confirm' : 'end'
  }
}

/** Outcomes that retrying cannot fix. 204 is the server's way to say "nothing more, ever". */
function fatalError(reason: DropReason): RunError | 'ended' | undefined {
  if (reason.kind === 'oversize') return { type: 'error', code: 'oversize', message: reason.message }
  if (reason.kind === 'bad_response') return { type: 'error', code: 'bad_response', message: reason.message }
  if (reason.kind !== 'http') return undefined
  const { status, message } = reason
  if (status === 204) return 'ended'
  if (status === 401 || status === 403) return { type: 'error', code: 'auth', status, message }
  if (status === 404) return { type: 'error', code: 'not_found', status, message }
  if (status >= 500 || status === 408 || status === 429) return undefined
  return { type: 'error', code: 'http', status, message }
}
