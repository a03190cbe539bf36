import { describe, expect, it } from 'vitest'
import { allowedConnections, wireProtocolOf, type BudgetEntry } from '../worker/budget.ts'

/**
 * The budget rule as a table (worker/budget.ts): the oldest feed first, then watched runs, then
 * unwatched runs, then the other feeds; while any run wants a slot, feeds hold at most limit - 1.
 * `F1 F2` feeds, `W1 W2` watched runs, `U1 U2` unwatched runs, numbered by open order.
 */
function entries(names: string): BudgetEntry[] {
  return names.split(' ').filter(Boolean).map((name, order) => {
    const openOrder = order + 1
    if (name.startsWith('F')) return { kind: 'feed', feedId: name, openOrder }
    return { kind: 'run', runId: name, watched: name.startsWith('W'), openOrder }
  })
}
const allowed = (names: string, limit: number) =>
  [...allowedConnections(entries(names), limit)].map((key) => key.replace(/^(run|feed):/, '')).sort().join(' ')

const rows: Array<[string, number, string]> = [
  // limit 1: a run always gets the last slot; no feed while any run wants one
  ['F1 W1', 1, 'W1'],
  ['F1 U1', 1, 'U1'],
  ['F1 F2', 1, 'F1'],
  ['F1 F2 W1 W2', 1, 'W1'],
  // limit 2: the oldest feed, then the first watched run
  ['F1 F2 W1 W2', 2, 'F1 W1'],
  ['F1 F2 U1 W1', 2, 'F1 W1'],
  ['F1 F2 U1 U2', 2, 'F1 U1'],
  // limit 3
  ['F1 F2 W1 U1 U2', 3, 'F1 U1 W1'],
  ['F1 F2 F3 W1', 3, 'F1 F2 W1'],
  // limit 4 (the HTTP/1.1 default): one feed per tab, 8 runs, 4 of them watched
  ['F1 F2 W1 W2 W3 W4 U1 U2 U3 U4', 4, 'F1 W1 W2 W3'],
  ['F1 F2 U1 U2 U3 U4 W1 W2 W3 W4', 4, 'F1 W1 W2 W3'],
  ['F1 F2 W1', 4, 'F1 F2 W1'],
  ['F1 F2 F3 F4 F5 W1', 4, 'F1 F2 F3 W1'],
  // limit 5 and 6: room for the second feed once the runs have theirs
  ['F1 F2 W1 W2 U1', 5, 'F1 F2 U1 W1 W2'],
  ['F1 F2 W1 W2 W3 W4 U1 U2', 6, 'F1 U1 W1 W2 W3 W4'],
  ['F1 F2 W1', 6, 'F1 F2 W1'],
  // feeds alone take every slot; runs alone too
  ['F1 F2 F3', 2, 'F1 F2'],
  ['U1 U2 W1', 2, 'U1 W1'],
]

describe('the budget rule', () => {
  it.each(rows)('%s with limit %i: %s', (names, limit, expected) => {
    expect(allowed(names, limit)).toBe(expected)
  })

  it('never gives more slots than the limit, and feeds never all of them while a run waits', () => {
    for (let limit = 1; limit <= 6; limit++) {
      for (const names of ['F1 F2 F3 F4 W1 W2 U1', 'F1 F2 F3 F4 F5 F6 U1', 'W1 W2 W3 W4 W5 W6 W7 F1']) {
        const granted = allowed(names, limit).split(' ')
        expect(granted.length).toBeLessThanOrEqual(limit)
        expect(granted.some((name) => !name.startsWith('F'))).toBe(true)
      }
    }
  })
})

describe('connection budget', () => {
  const run = (runId: string, watched: boolean, openOrder: number) => ({ kind: 'run' as const, runId, watched, openOrder })
  const feed = (feedId: string, openOrder: number) => ({ kind: 'feed' as const, feedId, openOrder })

  it('gives slots to watched runs first, then to the oldest', () => {
    const entries = [run('old', false, 1), run('older-watched', true, 2), run('new', false, 3), run('new-watched', true, 4)]
    expect([...allowedConnections(entries, 3)].sort()).toEqual(['run:new-watched', 'run:old', 'run:older-watched'])
    expect([...allowedConnections(entries, 1)]).toEqual(['run:older-watched'])
    expect(allowedConnections(entries, 0).size).toBe(0)
  })

  it('ranks the oldest feed first, then runs, then the other feeds, and always leaves a run a slot', () => {
    const feeds = [feed('f2', 2), feed('f1', 1), feed('f3', 3)]
    expect([...allowedConnections([...feeds, run('w', true, 4), run('u', false, 5)], 3)]).toEqual(['feed:f1', 'run:w', 'run:u'])
    expect([...allowedConnections([...feeds, run('w', true, 4)], 3)]).toEqual(['feed:f1', 'run:w', 'feed:f2'])
    expect([...allowedConnections([...feeds, run('u', false, 4)], 1)]).toEqual(['run:u'])
    expect([...allowedConnections(feeds, 2)]).toEqual(['feed:f1', 'feed:f2'])
  })

  it('keeps feeds and runs apart: a run named feed:x is not the feed x', () => {
    expect([...allowedConnections([feed('x', 1), run('feed:x', true, 2)], 2)]).toEqual(['feed:x', 'run:feed:x'])
  })

  it('reads the wire protocol from nextHopProtocol', () => {
    expect(['h2', 'h3', 'http/1.1', 'http/1.0', ''].map(wireProtocolOf)).toEqual(['http2', 'http2', 'http1', 'http1', undefined])
  })
})
