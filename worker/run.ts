import type { ResyncReason, RunSpec, RunSummary } from '../common/model.ts'
import type { ServerConnectionEnv } from './server-connection.ts'
import { ConnectionHolder, type TransitionNotice } from './connection-holder.ts'
import { EventLog } from './event-log.ts'
import type { HeldSpec, ResolvedRun } from './resolve-run.ts'
import { isFinal } from '../common/run-status.ts'
import { isInterruption, type ServerContract } from './server-contract.ts'
import { ServerCursor, type Control, type Ingest } from './server-cursor.ts'
import type { StreamUrls } from './spec-check.ts'
import { notifyEach } from './subscribable.ts'
import { decideRecovery, type DropFacts, type DropOutcome } from './reconnect-policy.ts'
import type { DropReason } from './transport.ts'

/** A place in a run's log where the server lost events it cannot replay. */
export interface Hole {
  /** The hole lies after the event with this hub seq (0: before the first). */
  afterSeq: number
  reason: ResyncReason
  message: string
}

/** What a run tells its listeners, each time with what happened (never only "I changed"). */
export type RunNotice =
  /** New events are in the log. */
  | { type: 'events' }
  /** `action` changed the run's status (the reducer applied it). */
  | TransitionNotice
  /** The transcript has a hole that reconnecting cannot fill, after the log's last event. */
  | { type: 'hole'; hole: Hole }

export type RunListener = (notice: RunNotice) => void

/**
 * One run: its server connection, its log and its status. Holds at most one connection, from
 * `start()` until a terminal event or a final failure, except while parked by the connection budget.
 *
 * A subscribable (through `ConnectionHolder`): its subscribers (the hub's subscriptions) hear each notice first, then its
 * observers (the hub's timers, the registry), as query-core's `Query` tells its observers before
 * its cache. Only subscribers count as watching the run.
 */
export class Run extends ConnectionHolder<RunNotice> {
  #resolved: ResolvedRun
  readonly log: EventLog
  finishedUnwatched = false
  /** Every hole the run's transcript has, in log order: a subscriber whose catch-up crosses one is told, in its place. */
  readonly holes: Hole[] = []
  readonly #observers = new Set<RunListener>()
  /** The server cursor: resume, and the one place that tells new events from replayed ones. */
  readonly #cursor: ServerCursor
  /** The server seq at which a seq jump was last repaired: a second jump there is loss the server cannot fill. */
  #gapRepairedAt: bigint | undefined
  /** A clean close that may have been a cut (`closed` with `unverified`) is being confirmed by one more connection. */
  #confirmingEnd = false
  /** A 401/403 asked a tab for fresh headers since the last new event: the next one fails as `auth`. */
  #authRetried = false
  readonly #freshHeaders: ServerConnectionEnv['freshHeaders']

  /** `resumed`: the run's first request was sent by a hub that went away; this one only resumes it, or fails at once. */
  constructor(resolved: ResolvedRun, env: ServerConnectionEnv, openOrder: number, resumed = false) {
    const cursor = new ServerCursor(resolved.contract, resolved.spec.resumeFrom)
    super(resolved, env, cursor, openOrder, resolved.spec.runId)
    this.#resolved = resolved
    this.#cursor = cursor
    this.log = new EventLog(resolved.logLimits)
    this.#freshHeaders = env.freshHeaders
    if (!resumed) return
    const cannot = decideRecovery({ repeatsPost: this.connection.repeatsPost, resume: resumeKind(this.contract) })
    if (cannot) this.dispatch({ type: 'failed', error: cannot })
    else this.connection.startResumed()
  }

  get spec(): HeldSpec {
    return this.#resolved.spec
  }

  /** The resolved server contract (preset and spec fields). */
  get contract(): ServerContract {
    return this.#resolved.contract
  }

  /** The URLs this run connects to, as checked when it was opened. */
  get urls(): StreamUrls {
    return this.#resolved.urls
  }

  /** Subscribers now (the hub's subscriptions; observers are not counted). */
  get subscriberCount(): number {
    return this.listeners.size
  }

  /** Listens after every subscriber, without counting as one (the hub's timers, the registry). */
  observe(listener: RunListener): void {
    this.#observers.add(listener)
  }

  protected override onSubscribe(): void {
    this.finishedUnwatched = false
  }

  protected override notify(notice: RunNotice): void {
    super.notify(notice)
    notifyEach(this.#observers, notice)
  }

  summary(): RunSummary {
    const { runId, sessionId } = this.spec
    const summary: RunSummary = {
      runId,
      sessionId,
      status: this.status,
      eventCount: this.log.lastSeq,
      subscriberCount: this.subscriberCount,
      finishedUnwatched: this.finishedUnwatched,
      incomplete: this.holes.length > 0,
    }
    if (this.error) summary.error = this.error
    return summary
  }

  /**
   * A failed run opened again: reconnect from the cursor with a fresh retry budget, and with the
   * spec it was opened with this time (new headers after a sign-in, a new URL).
   */
  override retry(resolved?: ResolvedRun): void {
    if (this.status !== 'failed') return
    if (resolved) {
      // The cursor keeps its scheme (and the contract it was made with).
      this.#resolved = { ...resolved, contract: { ...resolved.contract, ids: this.#resolved.contract.ids } }
      this.connection.use(this.#resolved)
    }
    super.retry()
  }

  /** The app no longer wants the run held (`relay.close`): it fails with `closed`; opening it again resumes it. */
  closeByApp(): void {
    if (isFinal(this.status)) return
    this.dispatch({ type: 'failed', error: { type: 'error', code: 'closed', message: `Run ${this.spec.runId} was closed by the app; open it again to resume.` } })
  }

  protected override onFinal(): void {
    if (this.subscriberCount === 0) this.finishedUnwatched = true
  }

  protected receive(type: string, data: string, id: string | undefined): void {
    const control = this.#cursor.control(type, data)
    if (control) return this.#controlled(control)
    // [ingest] The server cursor is parsed here, once, and kept with the event in the log.
    const ingest = this.#cursor.ingest(id)
    if (ingest.kind !== 'new' && this.#isEnd(type, data) && (ingest.kind !== 'gap' || ingest.why === 'backwards')) {
      // An end event the cursor cannot place (its id went backwards, past a seq the server jumped to)
      // is still the end: never swallowed, or the run would reconnect until its retries run out.
      return this.#endOutOfPlace(type, data, id, ingest)
    }
    if (ingest.kind === 'duplicate' || ingest.kind === 'lost') return // a replay, or loss already told: not progress
    const placed = ingest.kind === 'gap' ? this.#acceptGap(ingest, id!) : ingest
    if (!placed) return
    this.connection.progress()
    this.#confirmingEnd = false // the run went on: that close was a cut
    this.#authRetried = false
    if (isInterruption(type, data, id, this.#cursor.hasIds)) {
      this.#hole('server_lost_events', 'The server lost the live run and cannot replay the rest of it.')
    }
    this.log.append({ type, data, id, serverSeq: placed.serverSeq })
    this.notify({ type: 'events' })
    if (this.#isEnd(type, data)) this.dispatch({ type: 'terminal' })
  }

  /** A Durable Streams control event: the end, a sign of life (caught up), or a stream that cannot be read. */
  #controlled(control: Control): void {
    if (control.kind === 'bad_control') return this.connection.drop({ kind: 'bad_response', message: control.message })
    if (control.closed) return this.dispatch({ type: 'terminal' })
    // Caught up: the server is there and has nothing more yet; its periodic closes then spend no retries.
    if (control.upToDate) this.connection.alive()
  }

  #isEnd(type: string, data: string): boolean {
    const { end } = this.contract
    return end.events.includes(type) || (end.data !== null && data.trim() === end.data)
  }

  /** Logs an end event that came out of place (after a hole, said once), and ends the run. */
  #endOutOfPlace(type: string, data: string, id: string | undefined, ingest: Ingest): void {
    if (ingest.kind === 'gap') this.#hole('server_lost_events', `The server sent its end event with seq ${ingest.serverSeq} where ${ingest.expected} was due (ids went backwards): the run ends there, and what it skipped is lost.`)
    this.log.append({ type, data, id, serverSeq: undefined })
    this.notify({ type: 'events' })
    this.dispatch({ type: 'terminal' })
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
      this.connection.drop({ kind: 'protocol', message })
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

  /** Keeps the hole with its place in the log, then tells the listeners. */
  #hole(reason: ResyncReason, message: string): void {
    const hole = { afterSeq: this.log.lastSeq, reason, message }
    this.holes.push(hole)
    this.notify({ type: 'hole', hole })
  }

  protected override dropFacts(reason: DropReason): DropFacts {
    const { end } = this.contract
    return {
      ...super.dropFacts(reason),
      holder: 'run',
      resume: resumeKind(this.contract),
      // [Durable Streams] a clean close is routine (about every 60 s): only `streamClosed` ends.
      endOnClose: this.#cursor.offsetMode ? false : end.onClose,
      hasIds: this.#cursor.hasIds,
      heldEvents: this.log.lastSeq,
      confirmingEnd: this.#confirmingEnd,
      authRetried: this.#authRetried,
    }
  }

  /** [RelayOptions.headers] A tab that follows the run gives its headers for the next request (a fresh token). */
  protected override beforeReconnect(): Promise<void> | undefined {
    if (!this.#freshHeaders) return undefined
    return this.#freshHeaders(this.spec.runId).then((headers) => {
      if (!headers) return
      this.#resolved = { ...this.#resolved, headers: { ...this.#resolved.headers, ...headers } }
      this.connection.use(this.#resolved)
    })
  }

  protected override applyDrop(outcome: DropOutcome): void {
    if (outcome.kind === 'confirm-end') this.#confirmingEnd = true
    if (outcome.kind === 'refresh-auth') this.#authRetried = true
    super.applyDrop(outcome)
  }
}

function resumeKind({ resume }: ServerContract): DropFacts['resume'] {
  return resume.kind === 'none' ? 'none' : resume.kind === 'replay' ? 'replay' : 'cursor'
}
