import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../worker/backoff.ts'
import { EventLog } from '../worker/event-log.ts'
import { runStatusReducer, type RunState } from '../worker/run-status.ts'
import { allowedRuns, wireProtocolOf } from '../worker/budget.ts'
import { serverSeqOf } from '../worker/chat-protocol.ts'

describe('EventLog', () => {
  const roomy = { maxEvents: 1000, maxBytes: 1 << 20 }

  it('numbers events from 1 without gaps and serves them after any cursor', () => {
    const log = new EventLog(roomy)
    for (const text of ['a', 'b', 'c']) log.append('token', text)
    expect(log.lastSeq).toBe(3)
    expect(log.after(0).events.map((e) => [e.seq, e.data])).toEqual([[1, 'a'], [2, 'b'], [3, 'c']])
    expect(log.after(2).events.map((e) => e.data)).toEqual(['c'])
    expect(log.after(3).events).toEqual([])
    expect(log.after(0).truncated).toBe(false)
  })

  it('keeps the server id of an event', () => {
    const log = new EventLog(roomy)
    expect(log.append('token', 'x', 's1:7')).toEqual({ seq: 1, type: 'token', data: 'x', id: 's1:7' })
  })

  it('drops the oldest events past its event cap and says when a cursor fell out', () => {
    const log = new EventLog({ maxEvents: 3, maxBytes: 1 << 20 })
    for (let i = 1; i <= 5; i++) log.append('token', String(i))
    expect(log.firstSeq).toBe(3)
    expect(log.after(0)).toEqual({ truncated: true, events: log.after(2).events })
    expect(log.after(2).truncated).toBe(false)
    expect(log.after(3).events.map((e) => e.data)).toEqual(['4', '5'])
  })

  it('drops the oldest events past its byte cap but always keeps the newest', () => {
    const log = new EventLog({ maxEvents: 1000, maxBytes: 300 })
    for (let i = 0; i < 10; i++) log.append('token', 'x'.repeat(50))
    expect(log.bytes).toBeLessThanOrEqual(300)
    expect(log.after(0).events.at(-1)?.seq).toBe(10)
    log.append('token', 'y'.repeat(1000))
    expect(log.after(0).events.map((e) => e.seq)).toEqual([11])
  })
})

describe('runStatusReducer', () => {
  const at = (status: RunState['status']): RunState => ({ status })

  it('walks connecting -> open -> reconnecting -> open -> ended', () => {
    let state = at('connecting')
    for (const [action, expected] of [['opened', 'open'], ['dropped', 'reconnecting'], ['opened', 'open'], ['terminal', 'ended']] as const) {
      state = runStatusReducer(state, { type: action })
      expect(state.status).toBe(expected)
    }
  })

  it('never leaves a final state', () => {
    const error = { type: 'error', code: 'auth', message: 'no' } as const
    for (const final of [at('ended'), { status: 'failed', error } as RunState]) {
      for (const action of [{ type: 'opened' }, { type: 'dropped' }, { type: 'parked' }, { type: 'resumed' }, { type: 'terminal' }] as const) {
        expect(runStatusReducer(final, action)).toBe(final)
      }
    }
  })

  it('leaves failed only on an explicit retry, from which it reconnects', () => {
    const failed: RunState = { status: 'failed', error: { type: 'error', code: 'auth', message: 'sign in' } }
    expect(runStatusReducer(failed, { type: 'retry' })).toEqual({ status: 'reconnecting' })
    expect(runStatusReducer(at('ended'), { type: 'retry' })).toEqual(at('ended'))
    expect(runStatusReducer(at('open'), { type: 'retry' }).status).toBe('open')
  })

  it('keeps failures as data', () => {
    const error = { type: 'error', code: 'not_found', message: 'gone', status: 404 } as const
    expect(runStatusReducer(at('open'), { type: 'failed', error })).toEqual({ status: 'failed', error })
  })

  it('lets a parked run resume only through reconnecting, ignoring late callbacks', () => {
    const parked = runStatusReducer(at('open'), { type: 'parked' })
    expect(parked.status).toBe('parked')
    expect(runStatusReducer(parked, { type: 'dropped' })).toBe(parked)
    expect(runStatusReducer(parked, { type: 'opened' })).toBe(parked)
    expect(runStatusReducer(parked, { type: 'resumed' }).status).toBe('reconnecting')
  })
})

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

describe('serverSeqOf', () => {
  it('reads <stream>:<seq> ids and plain integers', () => {
    expect(serverSeqOf('s1-abc:42')).toBe(42)
    expect(serverSeqOf('7')).toBe(7)
    expect(serverSeqOf('opaque')).toBeUndefined()
  })
})

describe('EventLog.afterEventId (a cursor that outlives hubs)', () => {
  const log = new EventLog({ maxEvents: 1000, maxBytes: 1 << 20 })
  log.append('token', 'a', 's:5')
  log.append('token', 'b', 's:6')
  log.append('token', 'c', 's:7')

  it('serves what follows an id it holds', () => {
    expect(log.afterEventId('s:5', serverSeqOf)).toEqual({ truncated: false, events: log.after(1).events })
  })

  it('places an id it does not hold by its server seq', () => {
    expect(log.afterEventId('s:4', serverSeqOf)).toEqual({ truncated: false, events: log.after(0).events })
    expect(log.afterEventId('s:9', serverSeqOf)).toEqual({ truncated: false, events: [] })
  })

  it('says when events between the cursor and the log are missing', () => {
    expect(log.afterEventId('s:2', serverSeqOf)).toEqual({ truncated: true, events: log.after(0).events })
    expect(log.afterEventId('opaque', serverSeqOf)).toEqual({ truncated: true, events: log.after(0).events })
  })
})

describe('connection budget', () => {
  const entry = (runId: string, watched: boolean, openedAt: number) => ({ runId, watched, openedAt })

  it('gives slots to watched runs first, then to the oldest', () => {
    const entries = [entry('old', false, 1), entry('older-watched', true, 2), entry('new', false, 3), entry('new-watched', true, 4)]
    expect([...allowedRuns(entries, 3)].sort()).toEqual(['new-watched', 'old', 'older-watched'])
    expect([...allowedRuns(entries, 1)]).toEqual(['older-watched'])
    expect(allowedRuns(entries, 0).size).toBe(0)
  })

  it('reads the wire protocol from nextHopProtocol', () => {
    expect(['h2', 'h3', 'http/1.1', 'http/1.0', ''].map(wireProtocolOf)).toEqual(['http2', 'http2', 'http1', 'http1', undefined])
  })
})
