import { describe, expect, it } from 'vitest'
import type { FeedSpec } from '../src/index.ts'
import { finishedTranscript, recorder, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** The connection budget shared by feeds and runs, through a real SharedWorker against the dev chat server. */
const relay = useRelays('feed-budget')
const fastReconnect = { baseMs: 20, maxMs: 200 }

/** A session channel of the dev chat server, as a feed. */
const sessionFeed = (sessionId: string): FeedSpec => ({
  feedId: sessionId,
  url: `/api/chat/session-events?session_id=${encodeURIComponent(sessionId)}`,
  announces: [{ event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }],
})

describe('the connection budget with feeds', () => {
  it('feeds never starve watched runs: one feed per pane, more panes than slots, every run ends whole', async () => {
    const name = uniqueName('feeds')
    const hub = relay({ name, hub: { connectionBudget: { http1: 2, http2: 2 } } })
    const sessions = [0, 1, 2].map(() => uniqueName('session'))
    for (const sessionId of sessions) await hub.openFeed(sessionFeed(sessionId))
    const runs = await Promise.all(sessions.map((sessionId, i) => startRun(sessionId, `pane ${i}`, { tokens: 20, rate: 50 })))
    const seen = runs.map(() => recorder())
    for (const [i, run] of runs.entries()) {
      await hub.open(specOf(run, { reconnect: fastReconnect }))
      hub.subscribe({ runId: run.streamId }, seen[i]!.handlers)
    }
    await waitFor(() => seen.every((s) => s.ended), { timeoutMs: 20_000, what: 'every watched run to end' })
    for (const [i, run] of runs.entries()) expect(shape(seen[i]!.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    // The feeds get their slots back once the runs are done.
    await waitFor(async () => (await hub.diagnostics()).feeds.filter((feed) => feed.connected).length === 2, { what: 'two feeds to hold the two slots' })
  })

  it('keeps feeds and runs apart: a run named feed:<feedId> does not share that feed\'s slot', async () => {
    const hub = relay({ hub: { connectionBudget: { http1: 1, http2: 1 } } })
    const sessionId = uniqueName('session')
    await hub.openFeed(sessionFeed(sessionId))
    await waitFor(async () => (await hub.diagnostics()).feeds[0]?.connected, { what: 'the feed to connect' })
    // Long enough to be still running once the feed's aborted request has cooled off (abortCooldownMs, 5 s).
    const run = await startRun(uniqueName('s'), 'named like a feed', { tokens: 400, rate: 40 })
    const runId = `feed:${sessionId}`
    await hub.open(specOf(run, { runId }))
    hub.subscribe({ runId }, recorder().handlers)
    const diagnostics = await waitFor(async () => {
      const d = await hub.diagnostics()
      return d.connections[runId] === 1 ? d : undefined
    }, { what: 'the watched run to hold the only slot' })
    expect(diagnostics.budget).toMatchObject({ limit: 1, open: 1 })
    expect(diagnostics.feeds[0]).toMatchObject({ status: 'parked', connected: false })
  })
})
