import { allowedConnections, budgetKey, type BudgetEntry, type ConnectionBudget, type WireProtocol } from './budget.ts'
import type { Feed } from './feed.ts'
import { isFinal } from './run-status.ts'
import type { Run } from './run.ts'

/**
 * The hub's connection budget at work: which runs and feeds hold a connection now (the rule is
 * the pure `allowedConnections` in `budget.ts`), and which wire protocol the limit is for, learnt
 * from what the browser used for an origin.
 */
export class BudgetKeeper {
  readonly #budget: () => ConnectionBudget
  readonly #runs: () => Iterable<Run>
  readonly #feeds: () => Iterable<Feed>
  #protocol: WireProtocol = 'http1'

  constructor(budget: () => ConnectionBudget, runs: () => Iterable<Run>, feeds: () => Iterable<Feed>) {
    this.#budget = budget
    this.#runs = runs
    this.#feeds = feeds
  }

  get protocol(): WireProtocol {
    return this.#protocol
  }

  /** The limit in force. */
  get limit(): number {
    return this.#budget()[this.#protocol]
  }

  /** The protocol seen on an origin's responses: a new one rebalances under its limit. */
  learnProtocol(protocol: WireProtocol | undefined): void {
    if (!protocol || protocol === this.#protocol) return
    this.#protocol = protocol
    this.rebalance()
  }

  /** Gives the budget's slots to the connections that deserve them. */
  rebalance(): void {
    const live = new Map<string, Run | Feed>()
    const entries: BudgetEntry[] = []
    for (const feed of this.#feeds()) {
      if (isFinal(feed.status)) continue
      entries.push({ kind: 'feed', feedId: feed.spec.feedId, openOrder: feed.openOrder })
      live.set(budgetKey(entries.at(-1)!), feed)
    }
    for (const run of this.#runs()) {
      if (isFinal(run.status)) continue
      entries.push({ kind: 'run', runId: run.spec.runId, watched: run.subscriberCount > 0, openOrder: run.openOrder })
      live.set(budgetKey(entries.at(-1)!), run)
    }
    const allowed = allowedConnections(entries, this.limit)
    // Park first, so a resumed connection never pushes the total over the limit.
    for (const [key, holder] of live) if (!allowed.has(key) && holder.status !== 'parked') holder.park()
    for (const [key, holder] of live) {
      if (!allowed.has(key)) continue
      if (holder.status === 'parked') holder.resume()
      else holder.start()
    }
  }
}
