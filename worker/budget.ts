/**
 * The connection budget. Chromium allows 6 HTTP/1.1 connections per origin for
 * all tabs and workers together (README.md: *Limits*; a worker with 7 open
 * streams left a plain fetch() of the page unfinished). Over HTTP/2 one
 * connection carries about 100 streams, so the budget can grow.
 */
export interface ConnectionBudget {
  /** Streams the hub may hold over HTTP/1.1; the rest of the 6 stay free for the app's requests. */
  http1: number
  /** Streams over HTTP/2 or HTTP/3. */
  http2: number
}

export type WireProtocol = 'http1' | 'http2'

/** `nextHopProtocol` values ('h2', 'h3', 'http/1.1', '') mapped to the budget's kinds. */
export function wireProtocolOf(nextHopProtocol: string): WireProtocol | undefined {
  if (nextHopProtocol === 'h2' || nextHopProtocol.startsWith('h3')) return 'http2'
  if (nextHopProtocol.startsWith('http/1')) return 'http1'
  return undefined
}

/**
 * A connection that wants a slot. Feeds and runs live in separate namespaces: a run whose id is
 * `feed:x` (a server's announcement chooses run ids) is not the feed `x`.
 */
export type BudgetEntry =
  | {
      kind: 'run'
      runId: string
      /** Someone subscribes to it. */
      watched: boolean
      /** Earlier first within the same rank, so the order is stable. */
      openOrder: number
    }
  | { kind: 'feed'; feedId: string; openOrder: number }

/** The key of an entry in the set `allowedConnections` returns. */
export function budgetKey(entry: BudgetEntry): string {
  return entry.kind === 'run' ? `run:${entry.runId}` : `feed:${entry.feedId}`
}

/**
 * Which connections may be open now. Pure; the hub parks the others and resumes these.
 *
 * The rule (README, *Limits*): the oldest feed first, so server-started runs are
 * announced; then watched runs; then unwatched runs; then the other feeds. While any run wants a
 * slot, feeds together hold at most `limit - 1`, so the last slot always goes to a run: with a
 * budget of 1, the run streams and the feed waits (the reference server re-announces live runs
 * when a feed reconnects, so it misses nothing). Runs end and feeds do not: a feed waits only
 * for runs to end, and no run waits for ever behind feeds that never end.
 */
export function allowedConnections(entries: BudgetEntry[], limit: number): Set<string> {
  const feeds = entries.filter((entry) => entry.kind === 'feed').sort(byOpenOrder)
  const runs = entries.filter((entry) => entry.kind === 'run').sort(byOpenOrder)
  const watched = runs.filter((run) => run.watched)
  const ranked = [...feeds.slice(0, 1), ...watched, ...runs.filter((run) => !run.watched), ...feeds.slice(1)]
  const allowed = new Set<string>()
  const feedCap = runs.length > 0 ? limit - 1 : limit
  let feedSlots = 0
  for (const entry of ranked) {
    if (allowed.size >= limit) break
    if (entry.kind === 'feed') {
      if (feedSlots >= feedCap) continue
      feedSlots++
    }
    allowed.add(budgetKey(entry))
  }
  return allowed
}

function byOpenOrder(a: BudgetEntry, b: BudgetEntry): number {
  return a.openOrder - b.openOrder
}
