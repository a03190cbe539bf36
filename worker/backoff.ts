/** Reconnect delays: exponential, capped, with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export interface BackoffPolicy {
  /** Delay scale of the first retry, in ms. */
  baseMs: number
  /** No single delay exceeds this. */
  maxMs: number
}

/**
 * The delay before reconnect number `attempt` (0-based). Full jitter spreads the
 * reconnects of many tabs after a server restart instead of aligning them.
 * A server `retry:` value, when sent, replaces the base. `random` is injectable for tests.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random, serverRetryMs?: number): number {
  const base = serverRetryMs ?? policy.baseMs
  const ceiling = Math.min(policy.maxMs, base * 2 ** attempt)
  return Math.floor(random() * ceiling)
}
