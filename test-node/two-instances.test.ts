import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startInstance, type Instance } from './instances.ts'
import { redisUrl } from './redis-client.ts'
import { readSse, seqOf } from './sse-client.ts'
import { waitFor } from './wait.ts'

/**
 * Two server instances as separate processes on one real Redis: a run generated on A is
 * streamed, resumed and cancelled on B; a producer killed with SIGKILL mid-run leaves its
 * readers a final apperror, never a hang.
 */
describe('two instances, one Redis log', () => {
  let url: string
  const running: Instance[] = []
  beforeAll(() => {
    url = redisUrl()
  })
  afterEach(async () => {
    for (const instance of running.splice(0)) await instance.stop()
  })

  async function two(leaseMs = 10_000): Promise<[Instance, Instance]> {
    const env = { REDIS_URL: url, REDIS_PREFIX: `two-${Math.random().toString(36).slice(2, 8)}:`, LEASE_MS: String(leaseMs) }
    const pair = await Promise.all([startInstance(env), startInstance(env)])
    running.push(...pair)
    return pair
  }
  const start = async (instance: Instance, body: Record<string, unknown>) => {
    const response = await fetch(`${instance.url}/api/chat/start`, { method: 'POST', body: JSON.stringify({ message: 'hi', ...body }) })
    expect(response.status).toBe(200)
    return ((await response.json()) as { stream_id: string }).stream_id
  }
  const lastSeq = async (instance: Instance, runId: string) => ((await (await fetch(`${instance.url}/api/chat/stream/status?stream_id=${runId}`)).json()) as { journal: { last_seq: number } }).journal.last_seq

  it('generate on A; read 300 events on B, drop, the rest on A with Last-Event-ID: whole, gapless, ended', async () => {
    const [a, b] = await two()
    const runId = await start(a, { session_id: 'two-1', tokens: 1000, rate: 2000 })
    const first = await readSse(`${b.url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { stopWhen: (events) => events.length >= 300 })
    const rest = await readSse(`${a.url}/api/chat/stream?stream_id=${runId}`, { headers: { 'Last-Event-ID': first.events.at(-1)!.id! } })
    expect(first.ended).toBe(false)
    expect(seqOf(rest.events[0]!)).toBe(first.events.length + 1)
    const events = [...first.events, ...rest.events]
    expect(events.map(seqOf)).toEqual(events.map((_, i) => i + 1))
    expect(events.filter((e) => e.event === 'token')).toHaveLength(1000)
    expect(rest.ended).toBe(true)
    expect(events.at(-1)!.event).toBe('stream_end')
    // B replays the finished run too.
    expect((await readSse(`${b.url}/api/chat/stream?stream_id=${runId}&replay=1`)).events).toEqual(events)
  })

  it('a cancel on B ends the run A generates, for readers on both, and A stops generating', async () => {
    const [a, b] = await two()
    const runId = await start(a, { session_id: 'two-2', tokens: 1_000_000, rate: 1000 })
    const onA = readSse(`${a.url}/api/chat/stream?stream_id=${runId}&after_seq=0`)
    const onB = readSse(`${b.url}/api/chat/stream?stream_id=${runId}&after_seq=0`)
    await waitFor(async () => (await lastSeq(b, runId)) >= 50, 'events from A')
    const cancelledAt = performance.now()
    expect(await (await fetch(`${b.url}/api/chat/cancel?stream_id=${runId}`)).json()).toEqual({ ok: true, cancelled: true })
    for (const read of await Promise.all([onA, onB])) {
      expect(read.ended).toBe(true)
      expect(read.events.at(-1)!.event).toBe('cancel')
      expect(read.events.map(seqOf)).toEqual(read.events.map((_, i) => i + 1))
    }
    expect(performance.now() - cancelledAt).toBeLessThan(5000)
    // A's generator heard of it and returned; its session is free.
    await waitFor(async () => ((await (await fetch(`${a.url}/stats`)).json()) as { producing: number }).producing === 0, "A's generator to stop")
    expect(await start(a, { session_id: 'two-2', tokens: 1 })).toBeTruthy()
  })

  it('kill -9 of the producer mid-run: readers on B get one apperror, status says ended, the session is free', async () => {
    const [a, b] = await two(1000)
    const runId = await start(a, { session_id: 'two-3', tokens: 1_000_000, rate: 500 })
    const readers = [0, 1].map(() => readSse(`${b.url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { timeoutMs: 15_000 }))
    await waitFor(async () => (await lastSeq(b, runId)) >= 30, 'events from A')
    await a.kill9()
    const killedAt = performance.now()
    const reads = await Promise.all(readers)
    const waited = performance.now() - killedAt
    for (const read of reads) {
      expect(read.ended).toBe(true)
      expect(read.events.map(seqOf)).toEqual(read.events.map((_, i) => i + 1))
      expect(read.events.filter((e) => e.event === 'apperror')).toHaveLength(1)
      expect(read.events.at(-1)).toMatchObject({ event: 'apperror', data: JSON.stringify({ message: 'the live worker stopped' }) })
    }
    expect(reads[0]!.events).toEqual(reads[1]!.events)
    expect(waited).toBeLessThan(5000) // the lease (1 s) plus one check, never a hang
    expect(await (await fetch(`${b.url}/api/chat/stream/status?stream_id=${runId}`)).json()).toMatchObject({ active: false })
    // A late reader replays the same transcript, apperror included.
    expect((await readSse(`${b.url}/api/chat/stream?stream_id=${runId}&replay=1`)).events).toEqual(reads[0]!.events)
    expect(await start(b, { session_id: 'two-3', tokens: 1 })).toBeTruthy()
  })
})
