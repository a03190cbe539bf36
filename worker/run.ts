import type { RunError, RunEvent, RunSpec, RunSummary } from '../src/protocol.ts'
import { backoffDelay, type BackoffPolicy } from './backoff.ts'
import { EventLog, type EventLogLimits } from './event-log.ts'
import { isFinal, runStatusReducer, type RunAction, type RunState } from './run-status.ts'
import { DEFAULT_RESUME, DEFAULT_TERMINAL_EVENTS, serverSeqOf } from './chat-protocol.ts'
import type { DropReason, StreamConnection, Transport } from './transport.ts'


/** What a run needs from the hub around it. */
export interface RunHost {
  transport: Transport
  limits: EventLogLimits
  backoff: BackoffPolicy
  maxRetries: number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  random(): number
  /** A new event is in the log. */
  onEvent(run: Run, event: RunEvent): void
  /** Status, counts or error changed. */
  onChange(run: Run): void
}

/**
 * One run: its server connection, its log and its status. Holds exactly one
 * connection from `start()` until a terminal event or a final failure.
 */
export class Run {
  readonly spec: RunSpec
  readonly log: EventLog
  readonly subscriptions = new Set<number>()
  connectionsOpened = 0
  finishedUnwatched = false
  #state: RunState = { status: 'connecting' }
  #host: RunHost
  #url: URL
  #connection: StreamConnection | undefined
  #reconnectTimer: unknown
  #attempt = 0
  #retryMs: number | undefined
  /** The server's own cursor: its last seq and event id, for resuming and deduplication. */
  #serverSeq = 0
  #lastEventId: string | undefined
  #seenIds = new Set<string>()

  constructor(spec: RunSpec, url: URL, host: RunHost) {
    this.spec = spec
    this.#url = url
    this.#host = host
    this.log = new EventLog(host.limits)
    if (spec.resumeFrom !== undefined) {
      this.#lastEventId = spec.resumeFrom
      this.#serverSeq = serverSeqOf(spec.resumeFrom) ?? 0
    }
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
    }
    if (this.#state.error) summary.error = this.#state.error
    return summary
  }

  start(): void {
    this.#connect()
  }

  /** Closes the connection and cancels any reconnect; the run keeps its log. */
  close(): void {
    this.#connection?.close()
    this.#connection = undefined
    this.#host.clearTimeout(this.#reconnectTimer)
  }

  #dispatch(action: RunAction): void {
    const next = runStatusReducer(this.#state, action)
    if (next === this.#state) return
    this.#state = next
    if (isFinal(next.status)) {
      this.close()
      if (this.subscriptions.size === 0) this.finishedUnwatched = true
    }
    this.#host.onChange(this)
  }

  #connect(): void {
    if (isFinal(this.status)) return
    const { url, headers } = this.#resumeRequest()
    this.connectionsOpened++
    this.#connection = this.#host.transport({ url, headers, spec: this.spec }, {
      onOpen: () => this.#dispatch({ type: 'opened' }),
      onEvent: (type, data, id) => this.#receive(type, data, id),
      onComment: () => {},
      onRetry: (ms) => {
        this.#retryMs = ms
      },
      onDrop: (reason) => this.#dropped(reason),
    })
    this.#host.onChange(this)
  }

  #resumeRequest(): { url: string; headers: Record<string, string> } {
    const resume = this.spec.resume ?? DEFAULT_RESUME
    const url = new URL(this.#url)
    const headers: Record<string, string> = {}
    if (resume.kind === 'header') {
      if (this.#lastEventId !== undefined) headers['Last-Event-ID'] = this.#lastEventId
    } else if (resume.value === 'seq') {
      url.searchParams.set(resume.param, String(this.#serverSeq))
    } else if (this.#lastEventId !== undefined) {
      url.searchParams.set(resume.param, this.#lastEventId)
    }
    return { url: url.href, headers }
  }

  #receive(type: string, data: string, id: string | undefined): void {
    if (id !== undefined) {
      const seq = serverSeqOf(id)
      if (seq !== undefined) {
        if (seq <= this.#serverSeq) return // a replayed duplicate
        if (this.#serverSeq > 0 && seq > this.#serverSeq + 1) return this.#repairGap()
        this.#serverSeq = seq
      } else {
        if (this.#seenIds.has(id)) return
        this.#seenIds.add(id)
      }
      this.#lastEventId = id
    }
    // Progress, not a mere open, resets the backoff: a server that accepts and
    // closes at once must not turn into an endless reconnect loop.
    this.#attempt = 0
    const event = this.log.append(type, data, id)
    this.#host.onEvent(this, event)
    if ((this.spec.terminalEvents ?? DEFAULT_TERMINAL_EVENTS).includes(type)) this.#dispatch({ type: 'terminal' })
  }

  /** A jump in the server's seq is the only sign of loss: reopen from the last good cursor. */
  #repairGap(): void {
    this.#connection?.close()
    this.#dropped({ kind: 'protocol', message: `The server skipped events after seq ${this.#serverSeq}` })
  }

  #dropped(reason: DropReason): void {
    this.#connection = undefined
    if (isFinal(this.status)) return
    const error = fatalError(reason)
    if (error === 'ended') return this.#dispatch({ type: 'terminal' })
    if (error) return this.#dispatch({ type: 'failed', error })
    if (this.#attempt >= this.#host.maxRetries) {
      const message = `Gave up after ${this.#attempt} reconnects; last: ${'message' in reason ? reason.message : 'the server closed the stream'}`
      return this.#dispatch({ type: 'failed', error: { type: 'error', code: 'retries_exhausted', message } })
    }
    this.#dispatch({ type: 'dropped' })
    const delay = backoffDelay(this.#attempt++, this.#host.backoff, this.#host.random, this.#retryMs)
    this.#reconnectTimer = this.#host.setTimeout(() => this.#connect(), delay)
  }
}

/** Statuses that retrying cannot fix. 204 is the server's way to say "nothing more, ever". */
function fatalError(reason: DropReason): RunError | 'ended' | undefined {
  if (reason.kind !== 'http') return undefined
  const { status, message } = reason
  if (status === 204) return 'ended'
  if (status === 401 || status === 403) return { type: 'error', code: 'auth', status, message }
  if (status === 404) return { type: 'error', code: 'not_found', status, message }
  if (status >= 500 || status === 408 || status === 429) return undefined
  return { type: 'error', code: 'http', status, message }
}
