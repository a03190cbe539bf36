import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../worker/backoff.ts'
import { EventLog } from '../worker/event-log.ts'
import { runStatusReducer, type RunState } from '../worker/run-state.ts'
import { allowedConnections, wireProtocolOf } from '../worker/budget.ts'
import { serverSeqOf } from '../worker/server-contract.ts'
import { OpenedRuns } from '../src/opened-runs.ts'
import type { RunSpec, RunSummary } from '../common/model.ts'
import { HUB_DEFAULTS, STREAM_DEFAULTS } from '../worker/hub-options.ts'
import { resolveRun } from '../worker/resolve-run.ts'
import { Subscribable } from '../worker/subscribable.ts'

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

describe('runStatusReducer', () => {
  const at = (status: RunState['status']): RunState => ({ status })

  it('walks connecting -> open -> reconnecting -> open -> ended', () => {
    let state = at('connecting')
    for (const [action, expected] of [['opened', 'open'], ['dropped', 'reconnecting'], ['opened', 'open'], ['terminal', 'ended']] as const) {
      state = runStatusReducer(state, { type: action })
      expect(state.status).toBe(expected)
    }
  })

  it('stalled is a hint on an open run only: the next byte makes it open, a drop reconnecting', () => {
    expect(runStatusReducer(at('open'), { type: 'stalled' }).status).toBe('stalled')
    expect(runStatusReducer(at('stalled'), { type: 'alive' }).status).toBe('open')
    expect(runStatusReducer(at('stalled'), { type: 'dropped' }).status).toBe('reconnecting')
    expect(runStatusReducer(at('stalled'), { type: 'terminal' }).status).toBe('ended')
    for (const status of ['connecting', 'reconnecting', 'parked', 'ended'] as const) expect(runStatusReducer(at(status), { type: 'stalled' }).status).toBe(status)
    expect(runStatusReducer(at('open'), { type: 'alive' }).status).toBe('open')
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

describe('the runs a client reopens after a hub crash', () => {
  const spec = (runId: string) => ({ runId, sessionId: 's', url: `/stream?id=${runId}` })
  const summary = (runId: string, status: RunSummary['status']): RunSummary => ({ runId, sessionId: 's', status, eventCount: 0, subscriberCount: 0, finishedUnwatched: false, incomplete: false })

  it('forgets runs that ended, failed or were evicted, never one listed before the hub handled its open', () => {
    const opened = new OpenedRuns()
    for (const [i, runId] of ['live', 'ends', 'fails', 'evicted', 'late'].entries()) opened.add(spec(runId), i + 1)
    // Listed after 4 opens: 'late' (open 5) may simply not be handled yet; 'evicted' (open 4) is gone.
    opened.update([summary('live', 'open'), summary('ends', 'ended'), summary('fails', 'failed')], 4)
    expect(opened.specs().map((s) => s.runId)).toEqual(['live', 'late'])
    opened.update([summary('live', 'open')], 5)
    expect(opened.specs().map((s) => s.runId)).toEqual(['live'])
    // A new hub numbers opens anew: until it answers the reopen, a snapshot of it proves nothing.
    opened.newHub()
    opened.update([], 10)
    expect(opened.specs().map((s) => s.runId)).toEqual(['live'])
    opened.reopened('live', 1)
    opened.update([], 1)
    expect(opened.size).toBe(0)
  })
})

describe('resolveRun', () => {
  const settings = { ...HUB_DEFAULTS, allowedOrigins: ['https://api.example'] }
  const base = 'https://app.example/chat/page'

  it('resolves a spec once: contract, absolute URLs against one base, limits and timeouts from the hub settings', () => {
    const resolved = resolveRun({ runId: 'r', sessionId: 's', url: 'api/stream?id=r', resumeUrl: 'resume?id=r', preset: 'reference', method: 'POST', body: '{}' }, settings, base)
    if ('type' in resolved) throw new Error(resolved.message)
    expect(resolved.urls.url.href).toBe('https://app.example/chat/api/stream?id=r')
    expect(resolved.urls.resumeUrl?.href).toBe('https://app.example/chat/resume?id=r') // against the page, not the stream URL
    expect(resolved.contract).toMatchObject({ ids: 'seq', transport: 'fetch', resume: { kind: 'query', param: 'after_seq', value: 'seq' } })
    expect(resolved).toMatchObject({ method: 'POST', body: '{}', headers: {}, withCredentials: false, maxEventSize: HUB_DEFAULTS.maxEventSize })
    expect(resolved.timeouts).toEqual({ connectMs: STREAM_DEFAULTS.connectTimeoutMs, silenceMs: HUB_DEFAULTS.silenceTimeoutMs.fetch, stalledMs: HUB_DEFAULTS.silenceTimeoutMs.fetch / 2, healthyMs: undefined })
    expect(resolved.reconnect).toEqual({ backoff: HUB_DEFAULTS.backoff, maxRetries: HUB_DEFAULTS.maxRetries, maxServerErrors: HUB_DEFAULTS.maxServerErrors })
    expect(resolved.logLimits).toEqual({ maxEvents: HUB_DEFAULTS.maxEventsPerRun, maxBytes: HUB_DEFAULTS.maxBytesPerRun })
  })

  it('lets the spec override every default it names, and picks the silence timeout of its transport', () => {
    const resolved = resolveRun({
      runId: 'r', sessionId: 's', url: '/s', transport: 'eventsource', maxEventSize: 10, connectTimeoutMs: 7,
      reconnect: { baseMs: 1, maxRetries: 2, maxServerErrors: 1 }, logLimits: { maxEvents: 3 }, withCredentials: true, stalledAfterMs: 5,
    }, settings, base)
    if ('type' in resolved) throw new Error(resolved.message)
    expect(resolved).toMatchObject({ maxEventSize: 10, withCredentials: true, timeouts: { connectMs: 7, silenceMs: HUB_DEFAULTS.silenceTimeoutMs.eventsource, stalledMs: 5 } })
    expect(resolved.reconnect).toEqual({ backoff: { ...HUB_DEFAULTS.backoff, baseMs: 1 }, maxRetries: 2, maxServerErrors: 1 })
    expect(resolved.logLimits).toEqual({ maxEvents: 3, maxBytes: HUB_DEFAULTS.maxBytesPerRun })
    expect(resolved.contract.events).toContain('token')
  })

  it('refuses what it cannot resolve, typed, with the resume URL checked by the same rules as the stream URL', () => {
    const refused = (spec: Partial<RunSpec>) => {
      const result = resolveRun({ runId: 'r', sessionId: 's', url: '/s', ...spec }, settings, base)
      return 'type' in result ? [result.code, result.message.slice(0, 16)] : 'resolved'
    }
    expect(refused({ url: 'https://api.example/s' })).toBe('resolved')
    expect(refused({ url: 'https://other.example/s' })).toEqual(['url_refused', 'https://other.ex'])
    expect(refused({ resumeUrl: 'https://other.example/s' })).toEqual(['url_refused', 'RunSpec.resumeUr'])
    // An empty resumeUrl would resolve to the page itself: refused, as an empty url is.
    expect(refused({ resumeUrl: '' })).toEqual(['invalid_spec', 'RunSpec.resumeUr'])
    expect(refused({ url: '' })).toEqual(['invalid_spec', 'RunSpec.url must'])
    expect(refused({ runId: '' })).toEqual(['invalid_spec', 'RunSpec.runId mu'])
    expect(refused({ preset: 'nope' as RunSpec['preset'] })).toEqual(['invalid_spec', "Unknown preset '"])
    expect(refused({ transport: 'eventsource', headers: { a: 'b' } })).toEqual(['invalid_spec', 'EventSource can '])
  })
})

describe('Subscribable', () => {
  class Counter extends Subscribable<number> {
    tell(n: number) {
      this.notify(n)
    }
  }

  it('tells every listener in order, over a copy, and one listener\'s throw stops none of the others', () => {
    const reported: unknown[] = []
    const reportError = globalThis.reportError
    globalThis.reportError = (error) => reported.push(error)
    try {
      const counter = new Counter()
      const heard: string[] = []
      let offLater = () => {}
      const offFirst = counter.subscribe((n) => {
        heard.push(`first ${n}`)
        offLater() // unsubscribing while notified: this notice still reaches everyone it was for
        if (n === 1) counter.subscribe((m) => heard.push(`added ${m}`)) // and a listener added now hears only later ones
      })
      counter.subscribe(() => {
        throw new Error('listener bug')
      })
      offLater = counter.subscribe((n) => heard.push(`later ${n}`))
      counter.subscribe((n) => heard.push(`last ${n}`))
      counter.tell(1)
      counter.tell(2)
      offFirst()
      counter.tell(3)
      expect(heard).toEqual(['first 1', 'later 1', 'last 1', 'first 2', 'last 2', 'added 2', 'last 3', 'added 3'])
      expect(reported.map(String)).toEqual(['Error: listener bug', 'Error: listener bug', 'Error: listener bug'])
    } finally {
      globalThis.reportError = reportError
    }
  })
})
