/**
 * The connection budget. Chromium allows 6 HTTP/1.1 connections per origin for
 * all tabs and workers together (PROTOCOL-NOTES section 3: a worker with 7 open
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

export interface BudgetEntry {
  runId: string
  /** Runs someone watches come first. */
  watched: boolean
  /** Earlier runs first within the same priority, so the order is stable and nothing starves. */
  openOrder: number
}

/** Which runs may hold a connection now. Pure; the hub parks the others and resumes these. */
export function allowedRuns(entries: BudgetEntry[], limit: number): Set<string> {
  const ranked = [...entries].sort((a, b) => Number(b.watched) - Number(a.watched) || a.openOrder - b.openOrder)
  return new Set(ranked.slice(0, Math.max(0, limit)).map((entry) => entry.runId))
}
