import { afterEach, describe, expect, it } from 'vitest'
import { createRunServer, memoryRunLog, type RunLog } from '../server/index.ts'
import { tokenRun, tokenText } from './generators.ts'
import { openRedisLog } from './redis-client.ts'
import { readSse, seqOf, type SseEvent } from './sse-client.ts'
import { serve } from './serve.ts'
import { waitFor } from './wait.ts'

const backends: Array<[string, () => Promise<RunLog>]> = [
  ['memory', async () => memoryRunLog()],
  ['Redis', () => openRedisLog()],
]

/** The events of a whole run of `tokens` tokens, as the test generator makes them. */
function expectWhole(events: SseEvent[], runId: string, tokens: number): void {
  expect(events.map(seqOf)).toEqual(events.map((_, i) => i + 1))
  expect(events.every((event) => event.id === `${runId}:${seqOf(event)}`)).toBe(true)
  expect(events.filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text)).toEqual(Array.from({ length: tokens }, (_, i) => tokenText(i)))
  expect(events.map((e) => e.event).slice(-3)).toEqual(['done', 'title', 'stream_end'])
}

for (const [name, openLog] of backends) {
  describe(`reference protocol over HTTP, ${name} log`, () => {
    const cleanups: Array<() => Promise<void>> = []
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })

    async function setup(options: { heartbeatMs?: number; leaseMs?: number; newRunId?: () => string } = {}) {
      const log = await openLog()
      const app = createRunServer({ log, generate: tokenRun, ...options })
      const http = await serve(app.fetch)
      cleanups.push(() => app.host.close(), () => http.close())
      const start = async (body: Record<string, unknown>) => {
        const response = await fetch(`${http.url}/api/chat/start`, { method: 'POST', body: JSON.stringify({ message: 'hi', ...body }) })
        return { status: response.status, body: (await response.json()) as { stream_id: string; active_stream_id?: string; error?: string; code?: string } }
      }
      const status = async (runId: string) => (await (await fetch(`${http.url}/api/chat/stream/status?stream_id=${runId}`)).json()) as { active: boolean; journal: { last_seq: number } }
      return { log, app, url: http.url, start, status }
    }

    it('starts a run, refuses a second in its session with the active stream id, and replays a finished run whole', async () => {
      const { url, start, status } = await setup()
      const first = await start({ session_id: 's1', tokens: 30, rate: 300 })
      expect(first.status).toBe(200)
      const busy = await start({ session_id: 's1' })
      expect(busy).toEqual({ status: 409, body: { error: 'session already has a running stream', active_stream_id: first.body.stream_id } })
      const runId = first.body.stream_id
      await waitFor(async () => !(await status(runId)).active, 'the run to finish')
      const replay = await readSse(`${url}/api/chat/stream?stream_id=${runId}&replay=1`)
      expect(replay.headers.get('content-type')).toBe('text/event-stream')
      expect(replay.ended).toBe(true)
      expectWhole(replay.events, runId, 30)
      expect((await status(runId)).journal.last_seq).toBe(replay.events.length)
      expect((await start({ session_id: 's1' })).status).toBe(200) // the session is free again
    })

    it('a resume at the end of an ended run is 204 (nothing more, ever), not an empty stream the client would retry', async () => {
      const { url, start, status } = await setup()
      const runId = (await start({ session_id: 's-end', tokens: 5, rate: 500 })).body.stream_id
      await waitFor(async () => !(await status(runId)).active, 'the run to finish')
      const lastSeq = (await status(runId)).journal.last_seq
      for (const cursor of [`after_seq=${lastSeq}`, `after_event_id=${encodeURIComponent(`${runId}:${lastSeq}`)}`, '']) {
        const response = await fetch(`${url}/api/chat/stream?stream_id=${runId}&${cursor}`)
        expect({ cursor, status: response.status, body: await response.text() }).toEqual({ cursor, status: 204, body: '' })
      }
      // One short of the end: the final event, then the end.
      const tail = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_seq=${lastSeq - 1}`)
      expect(tail.events.map((event) => event.event)).toEqual(['stream_end'])
    })

    it('a newRunId that repeats an id: a 409 that says so, never a 500', async () => {
      const { start } = await setup({ newRunId: () => 'the-same-id' })
      expect((await start({ session_id: 'a', tokens: 2, rate: 300 })).status).toBe(200)
      const second = await start({ session_id: 'b', tokens: 2, rate: 300 })
      expect(second.status).toBe(409)
      expect(second.body).toEqual({ error: 'run the-same-id exists already: newRunId must give every run a new id', code: 'run_id_taken' })
    })

    it('resumes by after_seq, after_event_id and Last-Event-ID mid-run: no gap, no duplicate', async () => {
      const { url, start } = await setup()
      const runId = (await start({ session_id: 's2', tokens: 120, rate: 400 })).body.stream_id
      const first = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { stopWhen: (events) => events.length >= 10 })
      expect(first.ended).toBe(false)
      const second = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_seq=${seqOf(first.events.at(-1)!)}`, { stopWhen: (events) => events.length >= 20 })
      const third = await readSse(`${url}/api/chat/stream?stream_id=${runId}`, { headers: { 'Last-Event-ID': second.events.at(-1)!.id! } })
      expectWhole([...first.events, ...second.events, ...third.events], runId, 120)
      const byEventId = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_event_id=${runId}:100`)
      expect(seqOf(byEventId.events[0]!)).toBe(101)
      // A foreign cursor replays from the start.
      const foreign = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_event_id=other:100`)
      expect(seqOf(foreign.events[0]!)).toBe(1)
    })

    it('a subscribe with no cursor replays nothing: it starts live', async () => {
      const { url, start, status } = await setup()
      const runId = (await start({ session_id: 's3', tokens: 200, rate: 200 })).body.stream_id
      await waitFor(async () => (await status(runId)).journal.last_seq >= 20, 'some events')
      const live = await readSse(`${url}/api/chat/stream?stream_id=${runId}`)
      expect(seqOf(live.events[0]!)).toBeGreaterThan(20)
      expect(live.events.map(seqOf)).toEqual(live.events.map((_, i) => seqOf(live.events[0]!) + i))
      expect(live.events.at(-1)!.event).toBe('stream_end')
    })

    it('cancel ends the run for every reader and stops its generator', async () => {
      const { log, url, start, status } = await setup()
      const runId = (await start({ session_id: 's4', tokens: 100_000, rate: 500 })).body.stream_id
      const readers = [0, 1].map(() => readSse(`${url}/api/chat/stream?stream_id=${runId}&after_seq=0`))
      await waitFor(async () => (await status(runId)).journal.last_seq >= 20, 'some events')
      expect(await (await fetch(`${url}/api/chat/cancel?stream_id=${runId}`)).json()).toEqual({ ok: true, cancelled: true })
      for (const read of await Promise.all(readers)) {
        expect(read.ended).toBe(true)
        expect(read.events.at(-1)!.event).toBe('cancel')
        expect(read.events.map(seqOf)).toEqual(read.events.map((_, i) => i + 1))
      }
      const { lastSeq } = (await log.record(runId))!
      expect((await log.read(runId, lastSeq - 1, 10)).map((e) => e.event)).toEqual(['cancel'])
      expect((await status(runId)).active).toBe(false)
      expect(await (await fetch(`${url}/api/chat/cancel?stream_id=${runId}`)).json()).toEqual({ ok: true, cancelled: false })
    })

    it('sends heartbeat comments while a run is silent', async () => {
      const { url, start } = await setup({ heartbeatMs: 50 })
      const runId = (await start({ session_id: 's5', tokens: 3, rate: 5 })).body.stream_id
      const read = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_seq=0`)
      expect(read.comments.filter((c) => c.trim() === 'heartbeat').length).toBeGreaterThanOrEqual(3)
      expectWhole(read.events, runId, 3)
    })

    it('a slow client receives every frame of a fast run (backpressure, not drops)', async () => {
      const { url, start } = await setup()
      const runId = (await start({ session_id: 's6', tokens: 20_000, rate: 1_000_000 })).body.stream_id
      const read = await readSse(`${url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { delayMs: 2, timeoutMs: 60_000 })
      expectWhole(read.events, runId, 20_000)
    })

    it('a run whose producer stopped renewing its lease ends with one apperror for every reader', async () => {
      const { log, url } = await setup({ leaseMs: 300 })
      // A producer that died after two events: it holds the session and never writes again.
      await log.create({ runId: 'dead-run', sessionId: 's7', owner: 'gone', leaseMs: 300 })
      await log.append('dead-run', { owner: 'gone', expectedSeq: 0, leaseMs: 300 }, [{ event: 'token', data: '{"text":"a"}' }, { event: 'token', data: '{"text":"b"}' }], false)
      const reads = await Promise.all([0, 1, 2].map(() => readSse(`${url}/api/chat/stream?stream_id=dead-run&after_seq=0`, { timeoutMs: 5000 })))
      for (const read of reads) expect(read.events.map((e) => `${seqOf(e)}:${e.event}`)).toEqual(['1:token', '2:token', '3:apperror'])
      expect((await log.read('dead-run', 0, 10)).map((e) => e.event)).toEqual(['token', 'token', 'apperror'])
      expect(await log.activeRun('s7')).toBeUndefined()
    })

    it('a dead run does not block its session: the next start ends it with apperror and starts', async () => {
      const { log, start } = await setup({ leaseMs: 200 })
      await log.create({ runId: 'dead-session-run', sessionId: 's8', owner: 'gone', leaseMs: 200 })
      expect((await start({ session_id: 's8' })).status).toBe(409) // its lease still runs
      await waitFor(async () => (await log.record('dead-session-run'))?.abandoned === true, 'the lease to run out')
      const next = await start({ session_id: 's8', tokens: 1 })
      expect(next.status).toBe(200)
      expect((await log.read('dead-session-run', 0, 10)).map((e) => e.event)).toEqual(['apperror'])
    })

    it('answers unknown streams with 404 and a bad start with 400, as JSON', async () => {
      const { url } = await setup()
      const unknown = await fetch(`${url}/api/chat/stream?stream_id=nope`)
      expect([unknown.status, await unknown.json()]).toEqual([404, { error: 'unknown stream nope' }])
      const bad = await fetch(`${url}/api/chat/start`, { method: 'POST', body: '{"message": 1}' })
      expect(bad.status).toBe(400)
      expect(((await bad.json()) as { error: string }).error).toMatch(/session_id/)
    })
  })
}
