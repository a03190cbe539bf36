import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, type RunSpec } from '../src/index.ts'
import { cutConnections, finishedTranscript, recorder, restartServer, shape, specOf, startRun, uniqueName, useRelays, waitFor, type StartedRun } from './helpers.ts'

/** The seed chat app's own bug scenarios, through a real SharedWorker against the dev chat server. */
const relay = useRelays('seed')
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

describe('a long outage', () => {
  // `npm run outage` runs this with a 5-minute outage (OUTAGE_MS=300000).
  it('never fails a run by itself: offline waiting spends no retries, and online resumes it from its cursor', async () => {
    const outageMs = Number(await commands.env('OUTAGE_MS')) || 30_000
    const name = uniqueName('outage')
    const worker = `${name}@${PROTOCOL_VERSION}`
    const hub = relay(name)
    const run = await startRun(uniqueName('s'), 'through a tunnel', { tokens: 60, rate: 10 })
    // Fast retries: without the offline rule, 8 of them would be spent within about 2 s.
    await hub.open(specOf(run, { reconnect: { baseMs: 20, maxMs: 200, maxRetries: 8 } }))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 5)
    await commands.setWorkerOffline(worker, true)
    await waitFor(async () => (await hub.diagnostics()).online === false, { what: 'the worker to be offline' })
    await cutConnections(run.streamId) // emulation alone leaves an open response alone; a real outage does not
    const offlineSince = performance.now()
    await waitFor(() => performance.now() - offlineSince >= outageMs, { timeoutMs: outageMs + 5000, intervalMs: 1000, what: 'the outage to last' })
    expect(seen.statuses).not.toContain('failed')
    const { runs } = await hub.diagnostics()
    expect(runs[0]?.status).toBe('reconnecting')
    await commands.setWorkerOffline(worker, false)
    await waitFor(() => seen.finished, { timeoutMs: 20_000, what: 'the run to end after the outage' })
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  }, 10 * 60_000)
})
