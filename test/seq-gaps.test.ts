import { describe, expect, it } from 'vitest'
import type { RunRelay, RunSpec, TransportKind } from '../src/index.ts'
import { hostileLog, hostileUrl, recorder, restartServer, serverStats, serverTranscript, shape, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * Under `ids: 'seq'` every gap is seen (issue 16, item 1): a first event above the cursor + 1,
 * ids that go backwards, ids past Number.MAX_SAFE_INTEGER. Each is loss: repaired by
 * reconnecting from the cursor, or a hole signalled as `server_lost_events`, and the run's
 * summary says `incomplete`. Real SharedWorker, dev server (`dev-server/hostile.ts` for the ids).
 * Every `stream_end` carries an id: EventSource reports the previous id for an event without one.
 */
const relay = useRelays('seq-gaps')
const fast = { baseMs: 20, maxMs: 100 }

async function follow(hub: RunRelay, spec: RunSpec) {
  await hub.open(spec)
  const seen = recorder()
  hub.subscribe({ runId: spec.runId }, seen.handlers)
  await waitFor(() => seen.finished, { timeoutMs: 15_000, what: `run ${spec.runId} to end or fail` })
  const summary = (await hub.diagnostics()).runs.find((run) => run.runId === spec.runId)!
  return { seen, summary }
}

const texts = (events: ReadonlyArray<{ type: string; data: string }>) => events.map((event) => (event.type === 'token' ? (JSON.parse(event.data) as { text: string }).text.trim() : event.type))

describe.each<TransportKind>(['fetch', 'eventsource'])('seq gaps with the %s transport', (transport) => {
  const hostile = (key: string, params: Record<string, string | number>): RunSpec => ({
    runId: key, sessionId: key, url: hostileUrl({ key, ...params }), preset: 'reference', transport, reconnect: fast,
  })

  it('a journal trimmed before a fresh relay opens the run: the missing first events are a hole, incomplete', async () => {
    const run = await startRun(uniqueName('s'), 'trimmed', { tokens: 50, rate: 100 })
    await waitFor(async () => (await serverStats(run.streamId)).lastSeq >= 20, { what: '20 events on the server' })
    await restartServer(run.streamId, { journal: 'trim', worker: 'continue' })
    const { seen, summary } = await follow(relay(), { runId: run.streamId, sessionId: run.sessionId, url: run.url, preset: 'reference', transport, reconnect: fast })
    const { events: journal } = await serverTranscript(run.streamId)
    const first = Number(seen.events[0]!.id!.split(':')[1])
    expect(first).toBeGreaterThan(20)
    expect(shape(seen.events)).toEqual(shape(journal.slice(first - 1)))
    expect(seen.resyncs).toEqual(['server_lost_events'])
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(summary.incomplete).toBe(true)
  })

  it('a seq server that cannot seek replays from its start after a drop: duplicates, not ids going backwards', async () => {
    const run = await startRun(uniqueName('s'), 'no seek', { tokens: 30, rate: 100, ignoreCursor: true, faults: { dropAfter: 12 } })
    const { seen, summary } = await follow(relay(), { runId: run.streamId, sessionId: run.sessionId, url: run.url, preset: 'reference', transport, reconnect: fast })
    expect(shape(seen.events)).toEqual(shape((await serverTranscript(run.streamId)).events))
    expect(seen.resyncs).toEqual([])
    expect(summary.incomplete).toBe(false)
    expect((await serverStats(run.streamId)).opened).toBe(2)
  })

  it('a first event with id 5: repaired once from the cursor, then a hole', async () => {
    const key = uniqueName('first5')
    const { seen, summary } = await follow(relay(), hostile(key, { ids: '5,6,7', endId: 8 }))
    expect(texts(seen.events)).toEqual(['5', '6', '7', 'stream_end'])
    expect(seen.resyncs).toEqual(['server_lost_events'])
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(summary.incomplete).toBe(true)
    expect((await hostileLog(key)).filter((r) => !r.probe)).toHaveLength(2) // the repair, then the hole
  })

  it('ids that go backwards (3, 2, 1) are loss, not duplicates', async () => {
    const key = uniqueName('backwards')
    const { seen, summary } = await follow(relay(), hostile(key, { ids: '1,2,3,2,1,4', endId: 5 }))
    expect(texts(seen.events)).toEqual(['1', '2', '3', '4', 'stream_end'])
    expect(seen.resyncs).toEqual(['server_lost_events'])
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(summary.incomplete).toBe(true)
  })

  it('ids past Number.MAX_SAFE_INTEGER: the jump is a hole, later events and stream_end still count', async () => {
    const key = uniqueName('huge')
    const { seen, summary } = await follow(relay(), hostile(key, { ids: '1,2,3,1000000000000000000000,1000000000000000000001', endId: '1000000000000000000002' }))
    expect(texts(seen.events)).toEqual(['1', '2', '3', '1000000000000000000000', '1000000000000000000001', 'stream_end'])
    expect(seen.resyncs).toEqual(['server_lost_events'])
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(summary.incomplete).toBe(true)
  })
})
