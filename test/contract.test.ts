import { describe, expect, it } from 'vitest'
import type { RunRelay, RunSpec, TransportKind } from '../src/index.ts'
import { fetchEndConfirmations } from './engine.ts'
import { cutConnections, finishedWire, recorder, serverStats, startRun, uniqueName, useRelays, waitFor, wireShape, type StartedRun } from './helpers.ts'

/**
 * The server contract (docs/server-contract.md): servers shaped unlike the reference protocol,
 * each played by the dev chat server in a wire mode, through a real SharedWorker.
 */
const relay = useRelays('contract')
const fast = { baseMs: 20, maxMs: 200 }
const transports: TransportKind[] = ['eventsource', 'fetch']

/** Opens `run` with `extra` (no preset unless given), subscribes and waits until it ends or fails. */
async function follow(run: StartedRun, extra: Partial<RunSpec> = {}, hub: RunRelay = relay(), during?: (seen: ReturnType<typeof recorder>) => Promise<void>) {
  await hub.open({ runId: run.streamId, sessionId: run.sessionId, url: run.url, reconnect: fast, ...extra })
  const seen = recorder()
  hub.subscribe({ runId: run.streamId }, seen.handlers)
  await during?.(seen)
  await waitFor(() => seen.finished, { timeoutMs: 20_000, what: `run ${run.streamId} to end or fail` })
  return { hub, seen, stats: await serverStats(run.streamId) }
}

/** Cuts the network under the run once the subscriber holds `count` events. */
const cutAfter = (run: StartedRun, count: number) => async (seen: ReturnType<typeof recorder>) => {
  await waitFor(() => seen.events.length >= count, { what: `${count} events before the cut` })
  await cutConnections(run.streamId)
}

describe('with no preset, defaults safe for any server', () => {
  for (const transport of transports) {
    describe(transport, () => {
      it('a server without ids that ends by closing: one connection, the run ends, never replayed in a loop', async () => {
        const run = await startRun(uniqueName('s'), 'no ids, close', { tokens: 20, rate: 200, wire: 'no-ids', end: 'close' })
        const { seen, stats } = await follow(run, { transport })
        expect(seen.statuses.at(-1)).toBe('ended')
        expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
        expect(stats.opened).toBe(1 + (transport === 'fetch' ? fetchEndConfirmations : 0))
      })

      for (const wire of ['timestamp-ids', 'opaque-ids'] as const) {
        it(`${wire}: one connection, no false gap, every event once`, async () => {
          const run = await startRun(uniqueName('s'), wire, { tokens: 40, rate: 200, wire })
          const { seen, stats } = await follow(run, { transport })
          expect(seen.statuses.at(-1)).toBe('ended')
          expect(seen.resyncs).toEqual([])
          expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
          expect(stats.opened).toBe(1)
        })
      }

      it('an OpenAI-style stream (unnamed events, no ids) ends at [DONE], each chunk once', async () => {
        const run = await startRun(uniqueName('s'), 'openai', { tokens: 20, rate: 200, wire: 'openai' })
        const { seen, stats } = await follow(run, { transport })
        expect(seen.statuses.at(-1)).toBe('ended')
        expect(seen.events.at(-1)?.data).toBe('[DONE]')
        expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
        expect(stats.opened).toBe(1)
      })
    })
  }

  it('fetch forwards events whatever their name; EventSource forwards the names it listens to, and diagnostics say which', async () => {
    const byFetch = await startRun(uniqueName('s'), 'delta names', { tokens: 20, rate: 200, wire: 'delta-names' })
    const fetched = await follow(byFetch, { transport: 'fetch' })
    expect(wireShape(fetched.seen.events)).toEqual(wireShape(await finishedWire(byFetch.streamId)))
    expect((await fetched.hub.diagnostics()).listening[byFetch.streamId]).toBe('all')

    const bySource = await startRun(uniqueName('s'), 'delta names', { tokens: 20, rate: 200, wire: 'delta-names' })
    const sourced = await follow(bySource, { transport: 'eventsource' })
    const listening = (await sourced.hub.diagnostics()).listening[bySource.streamId]
    expect(listening).toContain('message')
    expect(listening).not.toContain('delta')
    const named = await startRun(uniqueName('s'), 'delta names', { tokens: 20, rate: 200, wire: 'delta-names' })
    const { seen } = await follow(named, { transport: 'eventsource', events: ['delta', 'tool', 'tool_complete', 'metering', 'done', 'title', 'stream_end'] })
    expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(named.streamId)))
  })

  // In WebKit the cut reads as a clean end: this pins the confirming connection, which is also the
  // resume here (the run ends with its end event), so the count is the same in every engine.
  it('a server without ids that drops mid-run: the replay from the start is skipped by count, nothing doubled (fetch)', async () => {
    const run = await startRun(uniqueName('s'), 'no ids, cut', { tokens: 40, rate: 40, wire: 'no-ids' })
    const { seen, stats } = await follow(run, { transport: 'fetch' }, relay(), cutAfter(run, 10))
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
    expect(stats.opened).toBe(2)
  })
})

describe('engine differences the library evens out', () => {
  for (const transport of transports) {
    // [firefox] After a bare `id` line alone Firefox keeps the previous id: without the fix (freshId in
    // worker/eventsource-transport.ts) the next event is dropped there as a duplicate.
    it(`${transport}: the event after a bare \`id\` line is delivered once, without an id, in every engine`, async () => {
      const run = await startRun(uniqueName('s'), 'bare id', { tokens: 20, rate: 200, wire: 'opaque-ids', faults: { bareIdAt: 5 } })
      const { seen, stats } = await follow(run, { transport })
      const sent = (await finishedWire(run.streamId)).map((event, i) => (i === 4 ? { ...event, id: undefined } : event))
      expect(seen.statuses.at(-1)).toBe('ended')
      expect(wireShape(seen.events)).toEqual(wireShape(sent))
      expect(stats.opened).toBe(1)
    })
  }
})

describe('a server that cannot seek', () => {
  for (const transport of transports) {
    it(`${transport}: opaque ids replayed from the start after a cut are each delivered once`, async () => {
      const run = await startRun(uniqueName('s'), 'no seek', { tokens: 40, rate: 40, wire: 'opaque-ids', ignoreCursor: true })
      const { seen, stats } = await follow(run, { transport }, relay(), cutAfter(run, 10))
      expect(seen.statuses.at(-1)).toBe('ended')
      expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
      expect(stats.opened).toBe(2)
      expect(stats.cursors[1]).toBe('replay (no seek)')
    })
  }
})

describe('presets against servers of their kind', () => {
  it('ai-sdk: the resume GET replays from the first chunk; the hub skips what it holds; [DONE] ends', async () => {
    const run = await startRun(uniqueName('s'), 'ai sdk', { tokens: 40, rate: 40, wire: 'ai-sdk' })
    const { seen, stats } = await follow(run, { preset: 'ai-sdk' }, relay(), cutAfter(run, 10))
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
    expect(stats.opened).toBe(2)
  })

  it('openai: a drop mid-run fails typed (unresumable), never a silent hole', async () => {
    const run = await startRun(uniqueName('s'), 'openai cut', { tokens: 40, rate: 40, wire: 'openai' })
    const { seen, stats } = await follow(run, { preset: 'openai' }, relay(), cutAfter(run, 10))
    expect(seen.errors.at(-1)).toMatchObject({ code: 'unresumable' })
    const sent = wireShape(await finishedWire(run.streamId))
    expect(wireShape(seen.events)).toEqual(sent.slice(0, seen.events.length)) // a prefix, in order
    expect(stats.opened).toBe(1)
  })

  it('last-event-id: opaque ids resumed with Last-Event-ID, and the run ends by closing', async () => {
    const run = await startRun(uniqueName('s'), 'generic', { tokens: 40, rate: 40, wire: 'opaque-ids', end: 'close' })
    const { seen, stats } = await follow(run, { preset: 'last-event-id' }, relay(), cutAfter(run, 10))
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
    expect(stats.opened).toBe(2 + fetchEndConfirmations)
    expect(stats.cursors[1]).toMatch(/^last-event-id=evt_/)
  })
})

describe('only new events are progress', () => {
  it('a server that closes without anything new is reconnected at most maxRetries times in a row, then fails typed', async () => {
    // Ids, and the end by closing, but no `end.onClose` declared: every reconnect replays nothing new.
    const run = await startRun(uniqueName('s'), 'close, ids', { tokens: 10, rate: 200, wire: 'timestamp-ids', end: 'close' })
    const { seen, stats } = await follow(run, { transport: 'fetch', reconnect: { ...fast, maxRetries: 3 } })
    expect(seen.errors.at(-1)).toMatchObject({ code: 'retries_exhausted' })
    expect(stats.opened).toBe(1 + 3)
    expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
    // Declared, the same server is served by one connection.
    const declared = await startRun(uniqueName('s'), 'close, ids, declared', { tokens: 10, rate: 200, wire: 'timestamp-ids', end: 'close' })
    const ended = await follow(declared, { transport: 'fetch', end: { onClose: true } })
    expect(ended.seen.statuses.at(-1)).toBe('ended')
    expect(ended.stats.opened).toBe(1 + fetchEndConfirmations)
  })
})

describe('typed errors from bad servers; other runs go on and the page stays responsive', () => {
  for (const transport of transports) {
    it(`${transport}: a login page, a redirect elsewhere, a server that never answers`, async () => {
      const hub = relay()
      const healthy = await startRun(uniqueName('s'), 'healthy', { tokens: 40, rate: 40 })
      await hub.open({ runId: healthy.streamId, sessionId: healthy.sessionId, url: healthy.url, preset: 'reference', transport })
      const healthySeen = recorder()
      hub.subscribe({ runId: healthy.streamId }, healthySeen.handlers)

      const html = await startRun(uniqueName('s'), 'html', { faults: { html: true } })
      const redirect = await startRun(uniqueName('s'), 'redirect', { faults: { redirect: 'http://127.0.0.2:9/login' } })
      const hang = await startRun(uniqueName('s'), 'hang', { faults: { hang: true } })
      // Servers that hold a connection without answering for 2.5 s each: more of them than the
      // browser's 6 connections per origin, so only the connection budget keeps the page's requests going.
      const slowHangs = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => startRun(uniqueName('s'), `slow hang ${i}`, { faults: { hang: true } })))
      const following = Promise.all([
        follow(html, { transport }, hub),
        follow(redirect, { transport }, hub),
        follow(hang, { transport, connectTimeoutMs: 300, reconnect: { ...fast, maxRetries: 1 } }, hub),
        ...slowHangs.map((run) => follow(run, { transport, connectTimeoutMs: 2500, reconnect: { ...fast, maxRetries: 0 } }, hub)),
      ])
      // The page's own requests, timed while the bad servers hold the hub's connections.
      let followed = false
      void following.finally(() => (followed = true))
      const requestTimes: number[] = []
      await waitFor(async () => {
        const started = performance.now()
        await fetch('/api/chat/stats?stream_id=none', { cache: 'no-store' })
        requestTimes.push(performance.now() - started)
        return followed
      }, { timeoutMs: 25_000, intervalMs: 50, what: 'the bad runs to end' })
      const [htmlRun, redirectRun, hangRun, ...slowHangRuns] = await following
      expect(requestTimes.length).toBeGreaterThan(10) // made all the while the hanging servers held connections
      expect(Math.max(...requestTimes)).toBeLessThan(2000)
      for (const run of slowHangRuns) expect(run.seen.errors.at(-1)).toMatchObject({ code: 'retries_exhausted' })
      expect(htmlRun.seen.errors.at(-1)).toMatchObject({ code: 'bad_response' })
      expect(htmlRun.seen.errors.at(-1)?.message).toContain('text/html')
      expect(htmlRun.stats.opened).toBe(1)
      expect(redirectRun.seen.errors.at(-1)).toMatchObject({ code: 'bad_response' })
      expect(redirectRun.stats.opened).toBe(1)
      expect(hangRun.seen.errors.at(-1)).toMatchObject({ code: 'retries_exhausted' })
      expect(hangRun.seen.errors.at(-1)?.message).toContain('No response headers within 300 ms')
      expect(hangRun.stats.opened).toBe(2)

      await waitFor(() => healthySeen.ended, { timeoutMs: 15_000 })
      expect(healthySeen.errors).toEqual([])
    })
  }
})

describe('re-opening a failed run', () => {
  it('uses the new spec: after a sign-in, the fresh Authorization header continues the run from its cursor', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'sign in again', { tokens: 30, rate: 60, faults: { requireAuth: 'fresh' } })
    const spec = { runId: run.streamId, sessionId: run.sessionId, url: run.url, preset: 'reference', transport: 'fetch' } as const
    await hub.open({ ...spec, headers: { Authorization: 'Bearer stale' } })
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.errors.at(-1)?.code === 'auth', { what: 'the stale token to be refused' })
    await hub.open({ ...spec, headers: { Authorization: 'Bearer fresh' } })
    await waitFor(() => seen.ended, { what: 'the run to go on with the fresh token' })
    expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
    expect((await serverStats(run.streamId)).opened).toBe(2)
  })
})
