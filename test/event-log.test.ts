import { describe, expect, it } from 'vitest'
import { EventLog } from '../worker/event-log.ts'
import { serverSeqOf } from '../worker/server-contract.ts'

/** A run's log (worker/event-log.ts): numbering, the caps, and its columns. Pure. */

describe('EventLog', () => {
  const roomy = { maxEvents: 1000, maxBytes: 1 << 20 }
  const token = (data: string, id?: string) => ({ type: 'token', data, id, serverSeq: id === undefined ? undefined : serverSeqOf(id) })

  it('numbers events from 1 without gaps and serves them after any cursor, in columns', () => {
    const log = new EventLog(roomy)
    expect(['a', 'b', 'c'].map((text) => log.append(token(text)))).toEqual([1, 2, 3])
    expect(log.lastSeq).toBe(3)
    expect(log.columns('r', 0)).toEqual({ runId: 'r', firstSeq: 1, types: ['token', 'token', 'token'], data: ['a', 'b', 'c'], ids: [null, null, null] })
    expect(log.columns('r', 2).data).toEqual(['c'])
    expect(log.columns('r', 0, 2).data).toEqual(['a', 'b'])
    expect(log.columns('r', 3).data).toEqual([])
  })

  it('keeps the server id and the cursor parsed from it at ingest', () => {
    const log = new EventLog(roomy)
    log.append(token('x', 's1:7'))
    expect(log.columns('r', 0).ids).toEqual(['s1:7'])
    expect(log.serverSeqAt(1)).toBe(7)
    expect(log.seqOfId('s1:7')).toBe(1)
  })

  it('drops the oldest events past the event cap, and serves from the oldest it holds', () => {
    const log = new EventLog({ maxEvents: 3, maxBytes: 1 << 20 })
    for (let i = 1; i <= 5; i++) log.append(token(String(i)))
    expect(log.firstSeq).toBe(3)
    expect(log.columns('r', 0)).toMatchObject({ firstSeq: 3, data: ['3', '4', '5'] })
    expect(log.columns('r', 3).data).toEqual(['4', '5'])
  })

  it('drops the oldest events past the byte cap, but keeps the newest even if alone it is larger', () => {
    const log = new EventLog({ maxEvents: 1000, maxBytes: 300 })
    for (let i = 0; i < 10; i++) log.append(token('x'.repeat(50)))
    expect(log.bytes).toBeLessThanOrEqual(300)
    expect(log.lastSeq).toBe(10)
    log.append(token('y'.repeat(1000)))
    expect(log.columns('r', 0)).toMatchObject({ firstSeq: 11, data: ['y'.repeat(1000)] })
  })

  it('compacts its columns as it drops events, keeping seq arithmetic right', () => {
    const log = new EventLog({ maxEvents: 10, maxBytes: 1 << 30 })
    for (let i = 1; i <= 5000; i++) log.append(token(String(i), `s:${i}`))
    expect(log.size).toBe(10)
    expect(log.columns('r', 4995)).toMatchObject({ firstSeq: 4996, data: ['4996', '4997', '4998', '4999', '5000'] })
    expect(log.seqOfId('s:4993')).toBe(4993)
    expect(log.seqOfId('s:100')).toBeUndefined()
  })
})
