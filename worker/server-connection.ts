import type { ResolvedStream } from './resolve-run.ts'
import type { DropFacts } from './reconnect-policy.ts'
import { listenedNames } from './server-contract.ts'
import type { ServerCursor } from './server-cursor.ts'
import type { DropReason, StreamAttempt, Transport } from './transport.ts'

/** What a connection needs from the hub around it: the transports, the clock and the network. */
export interface ServerConnectionEnv {
  transport: Transport
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  random(): number
  /** A monotonic clock in ms (the silence watchdog). */
  now(): number
  /** The browser's view of the network: a drop while offline waits for `online` and costs no retry. */
  isOnline(): boolean
  /** The owner waits for the network: the hub calls its `reconnectNow` once the browser is online. */
  waitForNetwork(): void
  /** The hub aborted a request in flight: its socket may stay taken in the browser a while (the budget's cooldown). */
  aborted(): void
  /** Fresh headers for a run's next request, from a live tab that follows it (undefined: keep the last ones). Optional. */
  freshHeaders?(runId: string): Promise<Record<string, string> | undefined>
  /** Whether a live tab could give a run fresh headers. */
  canRefreshHeaders?(runId: string): boolean
}

/** What the connection tells its owner (a run or a feed). Nothing fires after `close()`. */
export interface ServerConnectionOwner {
  onOpen(): void
  /** An event within the size limit. */
  onEvent(type: string, data: string, id: string | undefined): void
  /** The attempt is over (its stream is closed and its timers stopped); the owner decides what follows. */
  onDrop(reason: DropReason): void
  /** A reconnect is due: the owner opens it (`open()`), unless it was parked or ended meanwhile. */
  onReconnectDue(): void
  /** Bytes that are not UTF-8 became this many U+FFFD. */
  onInvalidText(replaced: number): void
  /** The open attempt heard nothing for `stalledMs` (true), or heard again after that (false). */
  onStalled(stalled: boolean): void
}

/** The facts of a drop that the connection knows (see `DropFacts`). */
export type ServerConnectionFacts = Pick<DropFacts, 'newEvents' | 'accepted' | 'repeatsPost' | 'online' | 'attempt' | 'maxRetries' | 'maxServerErrors' | 'backoff' | 'retryMs' | 'random' | 'canRefreshHeaders'>

/**
 * A reconnecting server connection: one attempt at a time, each built from the resolved stream and
 * the cursor, with its connect timeout and silence watchdog; between attempts, the timer and the
 * count of retries without progress. What a drop means is not decided here: `reconnect-policy.ts`.
 */
export class ServerConnection {
  #stream: ResolvedStream
  readonly #env: ServerConnectionEnv
  readonly #cursor: ServerCursor
  readonly #owner: ServerConnectionOwner
  /** Attempts made so far (diagnostics). */
  opened = 0
  #current: StreamAttempt | undefined
  #reconnectTimer: unknown
  #connectTimer: unknown
  #silenceTimer: unknown
  #stallTimer: unknown
  #stalled = false
  #healthyTimer: unknown
  /** When the current attempt last showed a sign of life (env clock). */
  #heardAt = 0
  #attempt = 0
  #retryMs: number | undefined
  /** A response was accepted as an event stream (the server had the first request). */
  #accepted = false
  /** The first request was sent by a hub that went away: this one starts with the resume request. */
  #firstSent = false

  readonly #runId: string | undefined
  /** New events on the current attempt (`progress`): a clean close after some may be the end (`end.onClose`). */
  newEvents = 0

  /** `runId`: the run streamed, undefined for a feed (test transports key on it). */
  constructor(stream: ResolvedStream, env: ServerConnectionEnv, cursor: ServerCursor, owner: ServerConnectionOwner, runId?: string) {
    this.#runId = runId
    this.#stream = stream
    this.#env = env
    this.#cursor = cursor
    this.#owner = owner
  }

  get connected(): boolean {
    return this.#current !== undefined
  }

  /** The next attempt uses this stream (a failed run opened again with a new spec). */
  use(stream: ResolvedStream): void {
    this.#stream = stream
  }

  /** The first request went out from a hub that went away (recovery): every attempt of this one resumes. */
  startResumed(): void {
    this.#firstSent = true
    this.#accepted = true
  }

  /** The first request is a POST and there is no `resumeUrl`: a reconnect would send it again. */
  get repeatsPost(): boolean {
    return this.#stream.method !== 'GET' && this.#stream.urls.resumeUrl === undefined
  }

  /** What this connection knows of a drop, for the reconnect policy. */
  facts(): ServerConnectionFacts {
    const { maxRetries, maxServerErrors, backoff } = this.#stream.reconnect
    return {
      newEvents: this.newEvents, accepted: this.#accepted, repeatsPost: this.repeatsPost, online: this.#env.isOnline(),
      attempt: this.#attempt, maxRetries, maxServerErrors, backoff, retryMs: this.#retryMs, random: this.#env.random(),
      canRefreshHeaders: this.#runId !== undefined && (this.#env.canRefreshHeaders?.(this.#runId) ?? false),
    }
  }

  /** Opens one attempt. */
  open(): void {
    const { urls, contract, timeouts } = this.#stream
    // A reconnect goes to `resumeUrl` when there is one (a GET), never repeating a POST that starts a turn.
    const resuming = (this.opened > 0 || this.#firstSent) && urls.resumeUrl !== undefined
    const { url, headers } = this.#cursor.request(resuming ? urls.resumeUrl! : urls.url)
    this.opened++
    this.newEvents = 0
    this.#cursor.connected()
    const { connectMs } = timeouts
    this.#connectTimer = this.#env.setTimeout(() => this.#connectTimedOut(connectMs), connectMs)
    this.#current = this.#env.transport({
      url,
      method: resuming ? 'GET' : this.#stream.method,
      body: resuming ? undefined : this.#stream.body,
      headers: { ...this.#stream.headers, ...headers },
      withCredentials: this.#stream.withCredentials,
      events: listenedNames(contract),
      maxEventSize: this.#stream.maxEventSize,
      runId: this.#runId,
      transport: contract.transport,
    }, {
      onOpen: () => {
        this.#accepted = true
        this.#env.clearTimeout(this.#connectTimer)
        const { healthyMs } = this.#stream.timeouts
        if (healthyMs !== undefined) this.#healthyTimer = this.#env.setTimeout(() => (this.#attempt = 0), healthyMs)
        this.#heard()
        this.#owner.onOpen()
      },
      onEvent: (type, data, id) => {
        this.#heard()
        const { maxEventSize } = this.#stream
        if (data.length > maxEventSize) return this.drop({ kind: 'oversize', message: `A ${type} event of ${data.length} characters exceeds the ${maxEventSize} limit` })
        this.#owner.onEvent(type, data, id)
      },
      onComment: () => this.#heard(),
      onRetry: (ms) => {
        this.#retryMs = ms
      },
      onInvalidText: (replaced) => this.#owner.onInvalidText(replaced),
      onDrop: (reason) => this.drop(reason),
    })
    this.#heard()
  }

  /**
   * A new event: only progress resets the retries (and, for a feed, staying open `healthyMs`), so a
   * server that accepts and closes at once, or replays what the hub holds, cannot loop for ever.
   */
  progress(): void {
    this.#attempt = 0
    this.newEvents++
  }

  /** A sign of life that is not an event (a Durable Streams server caught up): resets the retries, as progress does. */
  alive(): void {
    this.#attempt = 0
  }

  /** Ends the current attempt for `reason` and tells the owner. */
  drop(reason: DropReason): void {
    this.#abort()
    this.#current = undefined
    this.#stopTimers()
    this.#owner.onDrop(reason)
  }

  /** The next attempt in `ms`; `countsAsRetry`: it spends one of the retries without progress. */
  reconnectIn(ms: number, countsAsRetry: boolean): void {
    if (countsAsRetry) this.#attempt++
    this.#reconnectTimer = this.#env.setTimeout(() => this.#owner.onReconnectDue(), ms)
  }

  /** Offline: the hub calls `reconnectNow` once the browser is online. */
  waitForNetwork(): void {
    this.#env.waitForNetwork()
  }

  /** Reconnects at once if no attempt is open (the network is back). */
  reconnectNow(): void {
    if (this.#current) return
    this.#env.clearTimeout(this.#reconnectTimer)
    this.open()
  }

  /** A fresh retry budget (the app opened a failed run again). */
  resetRetries(): void {
    this.#attempt = 0
  }

  /**
   * Closes the attempt and cancels every timer, a pending reconnect included. `graceful`: the
   * stream ended (a terminal event), and its server closes the response itself: not an abort.
   */
  close(graceful = false): void {
    if (graceful) this.#current?.close()
    else this.#abort()
    this.#current = undefined
    this.#env.clearTimeout(this.#reconnectTimer)
    this.#stopTimers()
  }

  #abort(): void {
    if (this.#current?.close()) this.#env.aborted()
  }

  #stopTimers(): void {
    this.#env.clearTimeout(this.#silenceTimer)
    this.#silenceTimer = undefined
    this.#env.clearTimeout(this.#stallTimer)
    this.#stallTimer = undefined
    this.#stalled = false
    this.#env.clearTimeout(this.#healthyTimer)
    this.#env.clearTimeout(this.#connectTimer)
  }

  /** No answer within the connect timeout: a silent connection, retried; its transport may know more (a hidden redirect). */
  #connectTimedOut(connectTimeoutMs: number): void {
    const timeout: DropReason = { kind: 'timeout', message: `No response headers within ${connectTimeoutMs} ms` }
    const current = this.#current
    if (!current?.explainTimeout) return this.drop(timeout)
    void current.explainTimeout(timeout, connectTimeoutMs).then((reason) => {
      if (this.#current === current) this.drop(reason)
    }, () => this.#current === current && this.drop(timeout))
  }

  /**
   * Any sign of life counts against the silence watchdog. One timer per attempt, re-armed for
   * the time left when it fires: no timer churn per event at thousands of events a second.
   */
  #heard(): void {
    this.#heardAt = this.#env.now()
    // Alive again first, so that the stall watch re-arms on this very byte.
    if (this.#stalled) {
      this.#stalled = false
      this.#owner.onStalled(false)
    }
    if (this.#silenceTimer === undefined) this.#watchSilence(this.#stream.timeouts.silenceMs)
    if (this.#stallTimer === undefined) this.#watchStall(this.#stream.timeouts.stalledMs)
  }

  /** The stall hint: like the silence watchdog, one timer per attempt, but it only tells the owner. */
  #watchStall(waitMs: number): void {
    const stalledMs = this.#stream.timeouts.stalledMs
    if (stalledMs <= 0 || !this.#current || this.#stalled) return
    this.#stallTimer = this.#env.setTimeout(() => {
      this.#stallTimer = undefined
      const idle = this.#env.now() - this.#heardAt
      if (idle < stalledMs) return this.#watchStall(stalledMs - idle)
      this.#stalled = true
      this.#owner.onStalled(true)
    }, waitMs)
  }

  #watchSilence(waitMs: number): void {
    const timeoutMs = this.#stream.timeouts.silenceMs
    if (timeoutMs <= 0 || !this.#current) return
    this.#silenceTimer = this.#env.setTimeout(() => {
      this.#silenceTimer = undefined
      const idle = this.#env.now() - this.#heardAt
      if (idle < timeoutMs) return this.#watchSilence(timeoutMs - idle)
      this.drop({ kind: 'silence', message: `Nothing arrived for ${timeoutMs} ms` })
    }, waitMs)
  }
}
