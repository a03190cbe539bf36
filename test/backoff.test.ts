import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../worker/backoff.ts'

/** Reconnect delays (worker/backoff.ts). Pure. */

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 1000 }

  it('grows exponentially under a cap, with full jitter', () => {
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(attempt, policy, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoffDelay(5, policy, () => 0)).toBe(0)
  })

  it("takes the server's retry: as its base", () => {
    expect(backoffDelay(0, policy, () => 0.5, 40)).toBe(20)
  })
})
