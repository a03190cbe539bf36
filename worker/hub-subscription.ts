import type { RunError, RunStatus, SubscriptionTarget } from '../common/model.ts'
import type { HubStartAt, SubscriberMessage, SubscriberSink } from '../common/hub-wire.ts'
import { isThenable } from './safe-call.ts'
import { serverSeqOf } from './server-contract.ts'
import { assertNever, isFinal } from '../common/run-status.ts'
import type { RunState } from './run-state.ts'
import type { Hole, Run, RunNotice } from './run.ts'

/** Messages other than events: they wait in a short queue, each pinned to its place in the run's log. */
type ControlMessage = Exclude<SubscriberMessage, { type: 'events' }>

interface Control {
  message: ControlMessage
  /** The run whose events up to `atSeq` go out before this message (none for `waiting`). */
  run?: Run
  atSeq: number
}

/** A log cursor: where a subscription stands in one run's log. This is the only place that dedupes for subscribers. */
interface LogCursor {
  run: Run
  /** Stops listening to the run. */
  unsubscribe: () => void
  /** The last hub seq handed to the subscriber (or skipped for it). */
  afterSeq: number
  /**
   * A server seq the subscriber already has from another hub (a renewed subscription, while
   * this hub replays the run from the server): events up to it are skipped.
   */
  skipThrough?: number
  /**
   * An opaque server id the subscriber already has from another hub, which this hub's log has not
   * reached yet (it replays the run from the server): events are skipped until that one has passed.
   */
  skipUntilId?: string
  /**
   * How many events of a run without ids the subscriber got from another hub (a renewed
   * subscription): if the run ends before its log reaches that count, the server's replay no
   * longer covered them, and the subscriber is told.
   */
  heldCount?: number
}

/**
 * What the hub sends one subscriber: catch-up, live events and control messages, in log order.
 * It listens to each run it follows (`Run.subscribe`), and reads new events out of the run's log.
 *
 * A subscription is a log cursor into each run's log plus a short control queue, never a copy of
 * the events, so its memory does not grow with a backlog. Flow control: a batch goes out as
 * soon as nothing is in flight (no added latency at chat rates); while one is in flight, new
 * events wait in the log and leave as one message when it settles (one message per handler
 * run under load). So at most one batch per subscription sits in a tab's port, and a frozen
 * tab cannot make the hub pile up messages.
 */
export class HubSubscription {
  readonly id: string
  readonly clientId: string
  readonly target: SubscriptionTarget
  /** Where it asked to start: a run subscription starts there again if its run is opened later. */
  readonly startAt: HubStartAt
  readonly sink: SubscriberSink
  readonly #cursors = new Map<string, LogCursor>()
  #control: Control[] = []
  #inFlight = false
  #scheduled = false
  #closed = false

  constructor(id: string, clientId: string, target: SubscriptionTarget, startAt: HubStartAt, sink: SubscriberSink) {
    this.id = id
    this.clientId = clientId
    this.target = target
    this.startAt = startAt
    this.sink = sink
  }

  /** Runs this subscription follows now. */
  get runs(): Run[] {
    return [...this.#cursors.values()].map((cursor) => cursor.run)
  }

  follows(run: Run): boolean {
    const { target } = this
    return 'runId' in target ? target.runId === run.spec.runId : target.sessionId === run.spec.sessionId
  }

  /** Starts reading `run` at `startAt`: catch-up and live events go out through the same log cursor, so nothing slips in between or arrives twice. */
  attach(run: Run, startAt: HubStartAt): void {
    const { runId } = run.spec
    const unsubscribe = run.subscribe((notice) => this.#heard(run, notice))
    const { afterSeq, skipThrough, skipUntilId, heldCount, truncated } = startOf(run, startAt)
    this.#cursors.set(runId, { run, unsubscribe, afterSeq, skipThrough, skipUntilId, heldCount })
    if ('sessionId' in this.target) this.#push({ type: 'run', run: run.summary() }, run, afterSeq)
    // A start before the log's first event is reported by `#takeEvents`; here only the other holes.
    if (truncated && afterSeq + 1 >= run.log.firstSeq) this.#push({ type: 'resync', runId, reason: 'log_truncated', message: truncatedMessage(run) }, run, afterSeq)
    // Holes the catch-up crosses, each in its place; a start after a hole hears nothing of it.
    for (const hole of run.holes) if (hole.afterSeq >= Math.max(afterSeq, run.log.firstSeq - 1)) this.#hole(run, hole)
    this.#push(statusMessage(run.spec.runId, run.status, run.error), run, run.log.lastSeq)
  }

  /** The run left the hub (evicted). */
  detach(run: Run): void {
    const cursor = this.#cursors.get(run.spec.runId)
    if (cursor?.run !== run) return
    cursor.unsubscribe()
    this.#cursors.delete(run.spec.runId)
  }

  /** A run subscription names a run the hub does not hold yet. */
  waiting(runId: string): void {
    this.#push({ type: 'waiting', runId })
  }

  /** What a followed run told: new events go out from its log; a transition and a hole are pinned in their place. */
  #heard(run: Run, notice: RunNotice): void {
    switch (notice.type) {
      case 'events':
        return this.#wake()
      case 'transition':
        return this.#statusChanged(run, notice.state)
      case 'hole':
        return this.#hole(run, notice.hole)
      default:
        return assertNever(notice)
    }
  }

  /** The run's status changed to `state`: pinned after the events logged so far. */
  #statusChanged(run: Run, { status, error }: RunState): void {
    this.#push(statusMessage(run.spec.runId, status, error), run, run.log.lastSeq)
  }

  /** The run's transcript has a hole: the subscriber hears of it in its place, before the events after it. */
  #hole(run: Run, { afterSeq, reason, message }: Hole): void {
    this.#push({ type: 'resync', runId: run.spec.runId, reason, message }, run, afterSeq)
  }

  close(): void {
    this.#closed = true
    for (const { unsubscribe } of this.#cursors.values()) unsubscribe()
    this.#cursors.clear()
    this.#control = []
  }

  #push(message: ControlMessage, run?: Run, atSeq = 0): void {
    this.#control.push({ message, run, atSeq })
    this.#wake()
  }

  /** Events that arrive in the same task (one network chunk) leave together: a microtask, not a timer. */
  #wake(): void {
    if (this.#inFlight || this.#scheduled || this.#closed) return
    this.#scheduled = true
    queueMicrotask(() => {
      this.#scheduled = false
      this.#send()
    })
  }

  #send(): void {
    if (this.#inFlight || this.#closed) return
    const batch = this.#take()
    if (batch.length === 0) return
    this.#inFlight = true
    const settled = () => {
      this.#inFlight = false
      this.#wake()
    }
    let result: unknown
    try {
      result = this.sink.deliver(batch)
    } catch {
      // One subscriber's failure is its own; the hub and the other subscribers go on.
    }
    // On the event port (or across Comlink) `deliver` returns a promise that settles when the page has handled the batch.
    if (isThenable(result)) result.then(settled, settled)
    else settled()
  }

  /** Everything pending, in order: each control message after the events it is pinned behind, then the rest of every log. */
  #take(): SubscriberMessage[] {
    const batch: SubscriberMessage[] = []
    for (const { message, run, atSeq } of this.#control.splice(0)) {
      if (run) this.#takeEvents(batch, run, atSeq)
      batch.push(message)
    }
    for (const { run } of this.#cursors.values()) this.#takeEvents(batch, run, run.log.lastSeq)
    return batch
  }

  #takeEvents(batch: SubscriberMessage[], run: Run, throughSeq: number): void {
    const cursor = this.#cursors.get(run.spec.runId)
    if (!cursor || cursor.run !== run) return
    const { log } = run
    if (cursor.heldCount !== undefined) this.#checkHeldCount(batch, run, cursor)
    const through = Math.min(throughSeq, log.lastSeq)
    if (through <= cursor.afterSeq) return
    if (cursor.afterSeq + 1 < log.firstSeq) {
      // The log's caps dropped events this subscriber had not received yet.
      batch.push({ type: 'resync', runId: run.spec.runId, reason: 'log_truncated', message: truncatedMessage(run) })
      cursor.afterSeq = log.firstSeq - 1
    }
    while (cursor.skipUntilId !== undefined && cursor.afterSeq < through) {
      if (log.idAt(++cursor.afterSeq) === cursor.skipUntilId) cursor.skipUntilId = undefined
    }
    if (cursor.skipUntilId !== undefined && isFinal(run.status)) {
      // The run ended and the id never came: what the subscriber holds cannot be placed.
      cursor.skipUntilId = undefined
      batch.push({ type: 'resync', runId: run.spec.runId, reason: 'log_truncated', message: `Run ${run.spec.runId} never reached the event this subscriber resumed after.` })
    }
    if (cursor.skipThrough !== undefined) {
      while (cursor.afterSeq < through && (log.serverSeqAt(cursor.afterSeq + 1) ?? Infinity) <= cursor.skipThrough) cursor.afterSeq++
      if (cursor.afterSeq < through) cursor.skipThrough = undefined
    }
    if (through <= cursor.afterSeq) return
    batch.push({ type: 'events', ...log.columns(run.spec.runId, cursor.afterSeq, through) })
    cursor.afterSeq = through
  }

  /** A run the subscriber holds `heldCount` events of: fine once the log reaches them; short if it ended first. */
  #checkHeldCount(batch: SubscriberMessage[], run: Run, cursor: LogCursor): void {
    const held = cursor.heldCount!
    if (run.log.lastSeq >= held) cursor.heldCount = undefined
    else if (isFinal(run.status)) {
      cursor.heldCount = undefined
      // A failed run says why itself; an ended one would look whole.
      if (run.status === 'ended') batch.push({ type: 'resync', runId: run.spec.runId, reason: 'server_lost_events', message: `Run ${run.spec.runId} ended after ${run.log.lastSeq} events on this hub, but this subscriber had ${held} from a hub that went away: the server's replay no longer covers the run (load its transcript from the app's history).` })
    }
  }
}

function statusMessage(runId: string, status: RunStatus, error: RunError | undefined): ControlMessage {
  return error ? { type: 'status', runId, status, error } : { type: 'status', runId, status }
}

function truncatedMessage(run: Run): string {
  return `Events of run ${run.spec.runId} before hub seq ${run.log.firstSeq} are no longer held (per-run log caps).`
}

/** Where a new subscriber starts in a run's log (see `HubStartAt`). */
function startOf(run: Run, startAt: HubStartAt): { afterSeq: number; skipThrough?: number; skipUntilId?: string; heldCount?: number; truncated: boolean } {
  const { log } = run
  const fromBeginning = { afterSeq: 0, truncated: log.firstSeq > 1 }
  if (startAt === 'beginning') return fromBeginning
  if (startAt === 'live') return { afterSeq: log.lastSeq, truncated: false }
  if ('afterSeq' in startAt) return { afterSeq: startAt.afterSeq, truncated: startAt.afterSeq + 1 < log.firstSeq }
  if (startAt.runId !== undefined && startAt.runId !== run.spec.runId) return fromBeginning // a page cursor of another run
  // A run without ids, counted: this hub's log holds it from its first event, so its seq is the count.
  if ('afterCount' in startAt) return { afterSeq: startAt.afterCount, heldCount: startAt.afterCount, truncated: startAt.afterCount + 1 < log.firstSeq }
  // A page cursor is fully served when the run was opened to resume from it.
  if (startAt.afterEventId === run.spec.resumeFrom) return fromBeginning
  const known = log.seqOfId(startAt.afterEventId)
  if (known !== undefined) return { afterSeq: known, truncated: false }
  // Placing an id the log does not hold needs numbers: only a `seq` server has them.
  const serverSeq = run.contract.ids === 'seq' ? serverSeqOf(startAt.afterEventId) : undefined
  if (serverSeq === undefined) {
    // An opaque id the log does not hold: while the run goes on (a new hub replaying it), skip until it passes.
    if (!isFinal(run.status)) return { afterSeq: log.lastSeq, skipUntilId: startAt.afterEventId, truncated: false }
    return { afterSeq: 0, truncated: log.lastSeq > 0 }
  }
  // Placed by server seq; events up to it that the log has not reached yet are skipped when they come.
  const afterSeq = log.seqThroughServerSeq(serverSeq)
  const next = afterSeq < log.lastSeq ? log.serverSeqAt(afterSeq + 1) : undefined
  return { afterSeq, skipThrough: serverSeq, truncated: next !== undefined && next > serverSeq + 1 }
}
