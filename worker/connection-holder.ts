import type { RunError, RunStatus } from '../common/model.ts'
import { ServerConnection, type ServerConnectionEnv } from './server-connection.ts'
import { decideDrop, type DropFacts, type DropOutcome } from './reconnect-policy.ts'
import type { ResolvedStream } from './resolve-run.ts'
import { assertNever, isFinal } from '../common/run-status.ts'
import { runStatusReducer, type RunAction, type RunState } from './run-state.ts'
import type { ServerCursor } from './server-cursor.ts'
import { Subscribable } from './subscribable.ts'
import type { DropReason } from './transport.ts'

/** `action` changed the holder's status to `state` (the reducer applied it). */
export type TransitionNotice = { type: 'transition'; action: RunAction; state: RunState }

/**
 * What a run and a feed share: one reconnecting connection, a status changed only by
 * `runStatusReducer`, and the moves the budget and the network make (start, park, resume,
 * reconnect now). Each says what its events are (`receive`) and what a drop means (`dropped`).
 */
export abstract class ConnectionHolder<Notice> extends Subscribable<Notice | TransitionNotice> {
  /** The order in which the hub opened runs and feeds: the budget serves earlier ones first. */
  readonly openOrder: number
  /** The origin its stream comes from (the budget's protocol is per origin). */
  readonly origin: string
  protected readonly connection: ServerConnection
  #state: RunState = { status: 'connecting' }
  /** U+FFFD the transport made of bytes that are not UTF-8 (diagnostics). */
  invalidText = 0
  #started = false

  constructor(stream: ResolvedStream, env: ServerConnectionEnv, cursor: ServerCursor, openOrder: number, runId?: string) {
    super()
    this.openOrder = openOrder
    this.origin = stream.urls.url.origin
    this.connection = new ServerConnection(stream, env, cursor, {
      onOpen: () => this.dispatch({ type: 'opened' }),
      onEvent: (type, data, id) => this.receive(type, data, id),
      onDrop: (reason) => this.dropped(reason),
      onReconnectDue: () => this.#connect(),
      onInvalidText: (replaced) => (this.invalidText += replaced),
      onStalled: (stalled) => this.dispatch({ type: stalled ? 'stalled' : 'alive' }),
    }, runId)
  }

  get status(): RunStatus {
    return this.#state.status
  }

  get error(): RunError | undefined {
    return this.#state.error
  }

  get connected(): boolean {
    return this.connection.connected
  }

  /** Whether its first connection was opened (`start()`); a parked or retried holder opens again through the budget. */
  get started(): boolean {
    return this.#started
  }

  get connectionsOpened(): number {
    return this.connection.opened
  }

  /** Opens the first connection (once). */
  start(): void {
    if (this.#started) return
    this.#started = true
    this.#connect()
  }

  /** Closes the connection to free a slot of the connection budget; `resume()` reopens it from the cursor. */
  park(): void {
    this.connection.close()
    this.dispatch({ type: 'parked' })
  }

  resume(): void {
    if (this.status !== 'parked') return
    this.dispatch({ type: 'resumed' })
    this.#started = true
    this.#connect()
  }

  /**
   * Opened again after it failed: reconnect from the cursor with a fresh retry budget, through the
   * budget like any start (the hub rebalances next): a slot an aborted socket still takes is waited for.
   */
  retry(): void {
    if (this.status !== 'failed') return
    this.connection.resetRetries()
    this.dispatch({ type: 'retry' })
    this.#started = false
  }

  /**
   * The network is back: one waiting for it, or out its backoff, reconnects at once, and so does
   * one that gave up on reconnecting (`retries_exhausted`): only the server can say a run is gone.
   */
  reconnectNow(): void {
    if (this.status === 'failed' && this.#state.error?.code === 'retries_exhausted') return this.retry()
    if (this.status !== 'reconnecting') return
    this.connection.reconnectNow()
  }

  /** Closes the connection and cancels timers. */
  close(): void {
    this.connection.close()
  }

  protected dispatch(action: RunAction): void {
    const next = runStatusReducer(this.#state, action)
    if (next === this.#state) return
    this.#state = next
    if (isFinal(next.status)) {
      // An end event: the server closes the response itself. A failure aborts what is in flight.
      this.connection.close(next.status === 'ended')
      this.onFinal()
    }
    this.notify({ type: 'transition', action, state: next })
  }

  /** The status became final (before anyone is told). */
  protected onFinal(): void {}

  /** An event within the size limit. */
  protected abstract receive(type: string, data: string, id: string | undefined): void

  /** A drop: the reconnect policy decides what follows, from the facts of the holder and its connection. */
  protected dropped(reason: DropReason): void {
    if (isFinal(this.status) || this.status === 'parked') return
    this.applyDrop(decideDrop(this.dropFacts(reason)))
  }

  /** What the policy needs to know of a drop. A feed never ends by closing and holds no transcript to lose. */
  protected dropFacts(reason: DropReason): DropFacts {
    return { ...this.connection.facts(), reason, holder: 'feed', resume: 'cursor', endOnClose: false, hasIds: false, heldEvents: 0, confirmingEnd: false, authRetried: false }
  }

  protected applyDrop(outcome: DropOutcome): void {
    switch (outcome.kind) {
      case 'end':
        return this.dispatch({ type: 'terminal' })
      case 'fail':
        return this.dispatch({ type: 'failed', error: outcome.error })
      case 'confirm-end':
        this.dispatch({ type: 'dropped' })
        return this.connection.reconnectIn(0, false)
      case 'wait-for-network':
        this.dispatch({ type: 'dropped' })
        return this.connection.waitForNetwork()
      case 'reconnect':
        this.dispatch({ type: 'dropped' })
        return this.connection.reconnectIn(outcome.delayMs, true)
      case 'refresh-auth':
        this.dispatch({ type: 'dropped' })
        return this.connection.reconnectIn(0, true)
      default:
        return assertNever(outcome)
    }
  }

  #connect(): void {
    if (isFinal(this.status) || this.status === 'parked') return
    const ready = this.connection.opened > 0 ? this.beforeReconnect() : undefined
    if (!ready) return this.connection.open()
    // The status may change while it waits (parked, ended, closed by the app): check again.
    void ready.then(() => {
      if (!isFinal(this.status) && this.status !== 'parked' && !this.connection.connected) this.connection.open()
    })
  }

  /** Work before a reconnect (a run asks a tab for fresh headers); undefined: none, connect at once. */
  protected beforeReconnect(): Promise<void> | undefined {
    return undefined
  }
}
