import { commands } from 'vitest/browser'
import { afterEach, describe, expect, it } from 'vitest'
import { type RunSpec, type RunSummary, type TransportKind } from '../src/index.ts'
import { finishedTranscript, finishedWire, recorder, restartServer, serverStats, serverTranscript, setFaults, shape, specOf as startedSpec, startRun, uniqueName, useRelays, waitFor, wireShape, type StartedRun } from './helpers.ts'

/** Every fault runs through a real SharedWorker against the dev chat server. */
const relay = useRelays('faults')

const fastReconnect = { baseMs: 20, maxMs: 200 }
const specOf = (run: StartedRun, extra: Partial<RunSpec> = {}): RunSpec => startedSpec(run, { reconnect: fastReconnect, ...extra })

/** Opens `run` in a fresh hub, subscribes from the beginning and waits until the run ends or fails. */
async function watch(run: StartedRun, extra: Partial<RunSpec> = {}, hub = relay()) {
  await hub.open(specOf(run, extra))
  const seen = recorder()
  hub.subscribe({ runId: run.streamId }, seen.handlers)
  await waitFor(() => seen.finished, { what: `run ${run.streamId} to end or fail`, timeoutMs: 20_000 })
  return seen
}

describe.each<TransportKind>(['eventsource', 'fetch'])('faults with the %s transport', (transport) => {
  it('a dropped connection resumes from the cursor: no gap, no duplicate', async () => {
    const run = await startRun(uniqueName('s'), 'drop', { tokens: 40, rate: 100, faults: { dropAfter: 10 } })
    const seen = await watch(run, { transport })
    expect(seen.ended).toBe(true)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    const stats = await serverStats(run.streamId)
    expect(stats.cursors).toEqual(['after_seq=0', 'after_seq=10'])
  })

  it('a stream that goes silent is reconnected', async () => {
    const run = await startRun(uniqueName('s'), 'stall', { tokens: 60, rate: 60, heartbeatMs: 200, faults: { stallAfter: 8 } })
    const seen = await watch(run, { transport, silenceTimeoutMs: 1000 })
    expect(seen.ended).toBe(true)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await serverStats(run.streamId)).cursors).toEqual(['after_seq=0', 'after_seq=8'])
  })

  // A producer that died behind a live connection: the UI hears `stalled` long before the silence timeout.
  // The id-less case: the AI SDK's stream (fetch only), replayed from its start and skipped by count.
  for (const wire of ['reference', 'ai-sdk'] as const) {
    it.skipIf(wire === 'ai-sdk' && transport === 'eventsource')(`a stream that says nothing, not even a heartbeat, is stalled, then reconnected, whole (${wire})`, async () => {
      const run = await startRun(uniqueName('s'), 'stall', { tokens: 60, rate: 30, heartbeatMs: 200, wire, faults: { stallAfter: 8 } })
      const seen = await watch(run, { transport, preset: wire, stalledAfterMs: 300, silenceTimeoutMs: 1000 })
      expect(seen.ended).toBe(true)
      if (wire === 'reference') expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
      else expect(wireShape(seen.events)).toEqual(wireShape(await finishedWire(run.streamId)))
      const stalled = seen.statuses.indexOf('stalled')
      expect(stalled, `statuses: ${seen.statuses.join(' ')}`).toBeGreaterThan(0)
      expect(seen.statuses.slice(stalled, stalled + 2)).toEqual(['stalled', 'reconnecting'])
    })
  }

  // EventSource hides comments: there only events count (its default stalledAfterMs is 22.5 s).
  it.skipIf(transport === 'eventsource')('heartbeats keep a quiet run open, never stalled', async () => {
    const run = await startRun(uniqueName('s'), 'slow', { tokens: 4, rate: 2, heartbeatMs: 100 })
    const seen = await watch(run, { transport, stalledAfterMs: 400 })
    expect(seen.ended).toBe(true)
    expect(seen.statuses).not.toContain('stalled')
  })

  it('a jump in the server seq is repaired by reconnecting from the last good cursor', async () => {
    const run = await startRun(uniqueName('s'), 'skip', { tokens: 40, rate: 100, faults: { skipSeqAt: 10 } })
    const seen = await watch(run, { transport })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(seen.resyncs).toEqual([])
    expect((await serverStats(run.streamId)).cursors).toEqual(['after_seq=0', 'after_seq=9'])
  })

  for (const [status, code] of [[401, 'auth'], [403, 'auth'], [404, 'not_found'], [400, 'http']] as const) {
    it(`HTTP ${status} fails the run with '${code}', without retrying`, async () => {
      const run = await startRun(uniqueName('s'), 'status', { tokens: 10, rate: 100, faults: { status } })
      const seen = await watch(run, { transport })
      expect(seen.statuses.at(-1)).toBe('failed')
      expect(seen.errors.at(-1)).toMatchObject({ code, status })
      expect(seen.events).toEqual([])
      const stats = await serverStats(run.streamId)
      expect(stats.opened).toBe(1)
      // EventSource hides the status: one probe found it out.
      expect(stats.probes).toBe(transport === 'eventsource' ? 1 : 0)
    })
  }

  it('retries a run that failed with auth when the app opens it again', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'sign in again', { tokens: 20, rate: 100, faults: { status: 401 } })
    const seen = recorder()
    await hub.open(specOf(run, { transport }))
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.statuses.at(-1) === 'failed')
    expect(seen.errors.at(-1)).toMatchObject({ code: 'auth' })
    await setFaults(run.streamId, {}) // the user signed in again
    await hub.open(specOf(run, { transport }))
    await waitFor(() => seen.ended)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })

  it('an unknown stream fails with not_found', async () => {
    const hub = relay()
    const seen = recorder()
    await hub.open({ runId: 'no-such-stream', sessionId: 's', url: '/api/chat/stream?stream_id=no-such-stream', transport })
    hub.subscribe({ runId: 'no-such-stream' }, seen.handlers)
    await waitFor(() => seen.finished)
    expect(seen.errors.at(-1)).toMatchObject({ code: 'not_found', status: 404 })
  })

  it('5xx backs off and retries, then streams the whole run', async () => {
    const run = await startRun(uniqueName('s'), 'flaky', { tokens: 20, rate: 100, faults: { status: 503, statusTimes: 2 } })
    const seen = await watch(run, { transport })
    expect(seen.ended).toBe(true)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await serverStats(run.streamId)).opened).toBe(3)
  })

  it('gives up after the retry limit with a typed error, never looping', async () => {
    const run = await startRun(uniqueName('s'), 'down', { tokens: 20, rate: 100, faults: { status: 503 } })
    const seen = await watch(run, { transport, reconnect: { ...fastReconnect, maxRetries: 3 } })
    expect(seen.errors.at(-1)).toMatchObject({ code: 'retries_exhausted' })
    expect((await serverStats(run.streamId)).opened).toBe(4)
  })

  // A foreign server that answers 500 to every resume (no Retry-After) is failing, not busy: with the
  // default budget the run fails after maxServerErrors (3) retries, not after maxRetries (8).
  for (const wire of ['reference', 'no-ids'] as const) {
    it(`a server that answers 500 every time fails after 3 retries with the defaults, not 8 (${wire})`, async () => {
      const run = await startRun(uniqueName('s'), 'failing', { tokens: 20, rate: 100, wire, faults: { status: 500 } })
      const seen = await watch(run, { transport, preset: wire === 'reference' ? 'reference' : undefined, reconnect: undefined })
      expect(seen.errors.at(-1)).toMatchObject({ code: 'retries_exhausted', status: 500 })
      expect((await serverStats(run.streamId)).opened).toBe(4)
    })
  }

  it('204 ends the run', async () => {
    const run = await startRun(uniqueName('s'), 'no content', { tokens: 20, rate: 100, faults: { status: 204 } })
    const seen = await watch(run, { transport })
    expect(seen.statuses.at(-1)).toBe('ended')
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })

  it('ignores malformed lines; bytes that are not UTF-8 become U+FFFD and the run goes on, with both transports (the SSE spec decodes so)', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'garbage', { tokens: 20, rate: 100, faults: { malformedAt: 5 } })
    const seen = await watch(run, { transport }, hub)
    const sent = await finishedTranscript(run.streamId)
    const journaled = seen.events.filter((event) => event.id !== undefined)
    expect(seen.ended).toBe(true)
    expect(shape(journaled)).toEqual(shape(sent))
    const extra = seen.events.filter((event) => event.id === undefined)
    expect(extra.map((event) => [event.type, event.data])).toEqual([['message', '\uFFFD\uFFFD']])
    expect((await serverStats(run.streamId)).opened).toBe(1)
    // Only fetch sees the bytes, so only it can count them; EventSource decodes them out of sight.
    expect((await hub.diagnostics()).invalidText[run.streamId]).toBe(transport === 'fetch' ? 2 : undefined)
  })

  it('fails only the run with an oversized event, with oversize; other runs go on', async () => {
    const hub = relay()
    const healthy = await startRun(uniqueName('s'), 'healthy', { tokens: 40, rate: 60 })
    await hub.open(specOf(healthy, { transport }))
    const healthySeen = recorder()
    hub.subscribe({ runId: healthy.streamId }, healthySeen.handlers)
    const run = await startRun(uniqueName('s'), 'oversize', { tokens: 20, rate: 100, faults: { oversizeAt: 5 } })
    const seen = await watch(run, { transport }, hub)
    expect(seen.errors.at(-1)).toMatchObject({ code: 'oversize' })
    expect(shape(seen.events)).toEqual(shape((await finishedTranscript(run.streamId)).slice(0, 4)))
    expect((await serverStats(run.streamId)).opened).toBe(1)
    await waitFor(() => healthySeen.ended)
    expect(shape(healthySeen.events)).toEqual(shape(await finishedTranscript(healthy.streamId)))
  })
})

describe('bad input through the worker', () => {
  it('refuses cross-origin and malformed stream URLs with typed errors; other runs go on', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'neighbour', { tokens: 30, rate: 60 })
    await hub.open(specOf(run))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    for (const [url, code] of [['https://evil.example/api/chat/stream', 'url_refused'], ['http://[::1', 'url_refused'], ['file:///etc/passwd', 'url_refused']] as const) {
      await expect(hub.open({ runId: uniqueName('bad'), sessionId: 's', url })).rejects.toMatchObject({ name: 'RelayError', code })
    }
    await expect(hub.open({ runId: '', sessionId: 's', url: run.url })).rejects.toMatchObject({ code: 'invalid_spec' })
    await waitFor(() => seen.ended)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await hub.diagnostics()).runs.map((r) => r.runId)).toEqual([run.streamId])
  })

  it('a subscriber waiting for a run that another tab opens later gets all of it', async () => {
    // hub.test.ts pins the waiting message; this is the same across tabs, through the worker, against the server.
    const name = uniqueName('waiting')
    const [here, opener] = [relay(name), relay(name)]
    const run = await startRun(uniqueName('s'), 'opened later elsewhere', { tokens: 20, rate: 100 })
    const waiting: string[] = []
    const seen = recorder()
    await here.subscribe({ runId: run.streamId }, { ...seen.handlers, onWaiting: (runId) => waiting.push(runId) }).ready
    await waitFor(() => waiting.length === 1)
    await opener.open(specOf(run))
    await waitFor(() => seen.ended)
    expect(waiting).toEqual([run.streamId])
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })
})

describe('server restarts', () => {
  async function restartMidRun(how: Parameters<typeof restartServer>[1]) {
    const hub = relay()
    const run = await startRun(uniqueName('s'), `restart ${how.journal} ${how.worker}`, { tokens: 60, rate: 60 })
    await hub.open(specOf(run))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 10)
    await restartServer(run.streamId, how)
    await waitFor(() => seen.finished, { timeoutMs: 15_000, what: 'the run to end or fail' })
    return { run, seen }
  }

  it('continues without loss when the server can replay', async () => {
    const { run, seen } = await restartMidRun({ journal: 'keep', worker: 'continue' })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(seen.resyncs).toEqual([])
  })

  it('signals a resync when the server lost the live run (synthetic apperror)', async () => {
    const { run, seen } = await restartMidRun({ journal: 'keep', worker: 'stop' })
    const { events: journal } = await serverTranscript(run.streamId)
    expect(seen.resyncs).toEqual(['server_lost_events'])
    expect(shape(seen.events.slice(0, -1))).toEqual(shape(journal))
    expect(seen.events.at(-1)?.type).toBe('apperror')
    expect(seen.statuses.at(-1)).toBe('ended')
  })

  it('signals a resync when the server cannot cover the gap, and keeps streaming', async () => {
    const { run, seen } = await restartMidRun({ journal: 'trim', worker: 'continue' })
    const sent = await finishedTranscript(run.streamId)
    expect(seen.resyncs).toEqual(['server_lost_events'])
    expect(seen.ended).toBe(true)
    // What arrived is the server's transcript with one hole, in order, without duplicates.
    const seqs = seen.events.map((event) => Number(event.id!.split(':')[1]))
    const holeAt = seqs.findIndex((seq, i) => seq !== i + 1)
    expect(holeAt).toBeGreaterThan(0)
    expect(seqs.slice(holeAt)).toEqual(Array.from({ length: seqs.length - holeAt }, (_, i) => seqs[holeAt]! + i))
    expect(seqs.at(-1)).toBe(sent.length)
    expect(shape(seen.events)).toEqual(seqs.map((seq) => shape([sent[seq - 1]!])[0]))
  })

  it('fails with not_found when the server forgot the run', async () => {
    const { seen } = await restartMidRun({ journal: 'lose', worker: 'stop' })
    expect(seen.errors.at(-1)).toMatchObject({ code: 'not_found' })
  })
})

describe('log caps', () => {
  it('drops the oldest events past the cap and tells a subscriber whose cursor fell out', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'capped', { tokens: 40, rate: 100 })
    await hub.open(specOf(run, { logLimits: { maxEvents: 10 } }))
    await waitFor(async () => (await serverStats(run.streamId)).finished)
    await waitFor(async () => (await hub.diagnostics()).runs[0]?.status === 'ended')
    const late = recorder()
    hub.subscribe({ runId: run.streamId }, late.handlers)
    await waitFor(() => late.ended)
    expect(late.resyncs).toEqual(['log_truncated'])
    expect(shape(late.events)).toEqual(shape((await finishedTranscript(run.streamId)).slice(-10)))
  })
})
