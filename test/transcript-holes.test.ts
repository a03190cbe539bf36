import { describe, expect, it } from 'vitest'
import { finishedTranscript, recorder, restartServer, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** Events a server lost and cannot replay: how every subscriber is told, in place, through a real SharedWorker against the dev chat server. */
const relay = useRelays('holes')
const fastReconnect = { baseMs: 20, maxMs: 200 }

describe('a hole in a transcript', () => {
  /** A run whose server restarts mid-run and loses events it cannot replay, watched live by one subscriber. */
  async function runWithHole(how: Parameters<typeof restartServer>[1]) {
    const hub = relay()
    const run = await startRun(uniqueName('s'), `hole ${how.journal} ${how.worker}`, { tokens: 60, rate: 60 })
    await hub.open(specOf(run, { reconnect: fastReconnect }))
    const live = recorder()
    hub.subscribe({ runId: run.streamId }, live.handlers)
    await waitFor(() => live.events.length >= 10)
    await restartServer(run.streamId, how)
    await waitFor(() => live.finished, { timeoutMs: 15_000, what: 'the run to end' })
    expect(live.resyncs).toEqual(['server_lost_events'])
    return { hub, run, live }
  }

  for (const how of [{ journal: 'trim', worker: 'continue' }, { journal: 'keep', worker: 'stop' }] as const) {
    it(`is told to a subscriber that comes later, in its place (restart: journal ${how.journal}, worker ${how.worker})`, async () => {
      const { hub, run, live } = await runWithHole(how)
      const late = recorder()
      hub.subscribe({ runId: run.streamId }, late.handlers)
      await waitFor(() => late.ended)
      expect(late.timeline).toEqual(live.timeline)
      const bySession = recorder()
      hub.subscribe({ sessionId: run.sessionId }, bySession.handlers)
      await waitFor(() => bySession.ended)
      expect(bySession.timeline).toEqual(live.timeline)
      expect((await hub.diagnostics()).runs.find((r) => r.runId === run.streamId)?.incomplete).toBe(true)
    })
  }

  it('is told to a subscriber whose start is before it, and not to one that starts after it', async () => {
    const { hub, run, live } = await runWithHole({ journal: 'trim', worker: 'continue' })
    const holeAt = live.timeline.indexOf('resync server_lost_events') // = hub seqs before the hole
    const before = recorder()
    const after = recorder()
    hub.subscribe({ runId: run.streamId }, before.handlers, { startAt: { afterSeq: holeAt } })
    hub.subscribe({ runId: run.streamId }, after.handlers, { startAt: { afterSeq: holeAt + 1 } })
    await waitFor(() => before.ended && after.ended)
    expect(before.timeline).toEqual(live.timeline.slice(holeAt))
    expect(after.resyncs).toEqual([])
    expect(after.timeline).toEqual(live.timeline.slice(holeAt + 2))
  })

  it('a run without a hole is not marked incomplete', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'whole', { tokens: 10, rate: 200 })
    await hub.open(specOf(run))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.ended)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await hub.diagnostics()).runs[0]?.incomplete).toBe(false)
  })
})
