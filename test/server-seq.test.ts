import { describe, expect, it } from 'vitest'
import { EventLog } from '../worker/event-log.ts'
import { serverSeqOf } from '../worker/server-contract.ts'

/** Server seqs: read from an event id (worker/server-contract.ts) and placed in a run's log, where a page cursor that outlived its hub points. Pure. */

describe('serverSeqOf', () => {
  it('reads <stream>:<seq> ids and plain integers', () => {
    expect(serverSeqOf('s1-abc:42')).toBe(42)
    expect(serverSeqOf('7')).toBe(7)
    expect(serverSeqOf('opaque')).toBeUndefined()
  })
})

describe('EventLog server cursors (a cursor that outlives hubs)', () => {
  const log = new EventLog({ maxEvents: 1000, maxBytes: 1 << 20 })
  for (const [data, id] of [['a', 's:5'], ['b', 's:6'], ['c', 's:7']] as const) log.append({ type: 'token', data, id, serverSeq: serverSeqOf(id) })

  it('finds an id it holds', () => {
    expect(log.seqOfId('s:5')).toBe(1)
    expect(log.seqOfId('s:4')).toBeUndefined()
  })

  it('places a server seq it does not hold', () => {
    expect(log.seqThroughServerSeq(4)).toBe(0)
    expect(log.seqThroughServerSeq(6)).toBe(2)
    expect(log.seqThroughServerSeq(9)).toBe(3)
  })
})
