import { allowedConnections, budgetKey, type BudgetEntry, type ConnectionBudget, type WireProtocol } from './budget.ts'
import type { Feed } from './feed.ts'
import { isFinal } from '../common/run-status.ts'
import type { Run } from './run.ts'

/** What the budget needs of the hub: its clock and timers, the settings in force, and what the browser saw of origins. */
export interface BudgetClock {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  abortCooldownMs(): number
  /** Origins declared HTTP/2 (`HubSettings.http2Origins`). */
  http2Origins(): readonly string[]
  /** The protocol Resource Timing shows for an origin's responses, if any. */
  observedProtocol(origin: string): WireProtocol | undefined
}

/**
 * The hub's connection budget at work: which runs and feeds hold a connection now (the rule is
 * the pure `allowedConnections` in `budget.ts`), and which wire protocol the limit is for, learnt
 * from what the browser used for an origin.
 */
export class BudgetKeeper {
  readonly #budget: () => ConnectionBudget
  readonly #runs: () => Iterable<Run>
  readonly #feeds: () => Iterable<Feed>
  readonly #clock: BudgetClock
  #protocol: WireProtocol = 'http1'
  /** Origins seen speaking HTTP/2 (a protocol does not change back within a page's life). */
  readonly #http2Seen = new Set<string>()
  /** When each slot taken by an aborted HTTP/1.1 request is free again (env clock), soonest first. */
  #cooling: number[] = []
  /** The cooling slot a wake-up timer is set for. */
  #wakeAt: number | undefined

  constructor(budget: () => ConnectionBudget, runs: () => Iterable<Run>, feeds: () => Iterable<Feed>, clock: BudgetClock) {
    this.#budget = budget
    this.#runs = runs
    this.#feeds = feeds
    this.#clock = clock
  }

  /** Slots still taken by aborted requests' sockets. */
  get cooling(): number {
    const now = this.#clock.now()
    while (this.#cooling.length > 0 && this.#cooling[0]! <= now) this.#cooling.shift()
    return this.#cooling.length
  }

  /**
   * The hub aborted a request in flight. Over HTTP/1.1 the browser keeps its socket a while, and
   * it counts against the origin's connections: the slot stays taken for the cooldown, then the
   * budget is handed out again.
   */
  aborted(): void {
    const cooldownMs = this.#clock.abortCooldownMs()
    if (this.#protocol !== 'http1' || cooldownMs <= 0) return
    this.#cooling.push(this.#clock.now() + cooldownMs)
  }

  get protocol(): WireProtocol {
    return this.#protocol
  }

  /** The limit in force. */
  get limit(): number {
    return this.#budget()[this.#protocol]
  }

  /**
   * The protocol the limit is for, looked at again on every rebalance: `http2` when every origin
   * the live runs and feeds stream from is declared or seen to speak HTTP/2 (a response, a stream
   * that ended), else `http1`: one HTTP/1.1 origin keeps the browser's 6 per origin in force.
   */
  #learnProtocol(origins: Iterable<string>): void {
    const declared = this.#clock.http2Origins()
    let all = true
    let any = false
    for (const origin of origins) {
      any = true
      if (declared.includes(origin) || this.#http2Seen.has(origin)) continue
      if (this.#clock.observedProtocol(origin) === 'http2') this.#http2Seen.add(origin)
      else all = false
    }
    if (any) this.#protocol = all ? 'http2' : 'http1'
  }

  /** Gives the budget's slots to the connections that deserve them. */
  rebalance(): void {
    const live = new Map<string, Run | Feed>()
    const entries: BudgetEntry[] = []
    const origins = new Set<string>()
    for (const feed of this.#feeds()) {
      if (isFinal(feed.status)) continue
      origins.add(feed.origin)
      entries.push({ kind: 'feed', feedId: feed.spec.feedId, openOrder: feed.openOrder })
      live.set(budgetKey(entries.at(-1)!), feed)
    }
    for (const run of this.#runs()) {
      if (isFinal(run.status)) continue
      origins.add(run.origin)
      entries.push({ kind: 'run', runId: run.spec.runId, watched: run.subscriberCount > 0, openOrder: run.openOrder })
      live.set(budgetKey(entries.at(-1)!), run)
    }
    this.#learnProtocol(origins)
    const allowed = allowedConnections(entries, this.limit)
    // Park first, so a resumed connection never pushes the total over the limit.
    for (const [key, holder] of live) if (!allowed.has(key) && holder.status !== 'parked') holder.park()
    // New connections go into the slots neither a holder nor an aborted request's socket takes.
    let taken = this.cooling
    for (const [key, holder] of live) if (allowed.has(key) && holder.started && holder.status !== 'parked') taken++
    for (const [key, holder] of live) {
      if (!allowed.has(key) || (holder.started && holder.status !== 'parked')) continue
      if (taken >= this.limit) return this.#wakeAfterCooling()
      taken++
      if (holder.status === 'parked') holder.resume()
      else holder.start()
    }
  }

  /** A connection waits for a slot an aborted socket takes: hand the budget out again when the first one is free. */
  #wakeAfterCooling(): void {
    const first = this.#cooling[0]
    if (first === undefined || this.#wakeAt === first) return
    this.#wakeAt = first
    this.#clock.setTimeout(() => {
      this.#wakeAt = undefined
      this.rebalance()
    }, Math.max(0, first - this.#clock.now()) + 1)
  }
}
