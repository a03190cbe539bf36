import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION } from '../src/index.ts'
import { engine, engineCan } from './engine.ts'
import { cutConnections, finishedTranscript, recorder, serverStats, setFaults, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** Runs through a network outage, the page's or the server's, through a real SharedWorker against the dev chat server. */
const relay = useRelays('outage')

describe('a long outage', () => {
  // `npm run outage` runs this with a 5-minute outage (OUTAGE_MS=300000). Taking a SharedWorker
  // offline (navigator.onLine false inside it) needs the DevTools protocol; the other engines get
  // the server-side outage below, which cannot show that offline waiting spends no retries.
  it(`never fails a run by itself: offline waiting spends no retries, and online resumes it from its cursor${engine === 'chromium' ? '' : ' (Chromium only: offline emulation of a SharedWorker needs CDP; see the server-side outage)'}`, async ({ skip }) => {
    if (!(await engineCan('setWorkerOffline'))) return skip('offline emulation of a SharedWorker needs the DevTools protocol')
    // Fast retries: without the offline rule, all of them would be spent within (maxRetries + 1) × maxMs
    // = 1.8 s, so an outage twice as long shows the rule; `npm run outage` checks a long one.
    const reconnect = { baseMs: 20, maxMs: 200, maxRetries: 8 }
    const outageMs = Number(await commands.env('OUTAGE_MS')) || 2 * (reconnect.maxRetries + 1) * reconnect.maxMs
    const name = uniqueName('outage')
    const worker = `${name}@${PROTOCOL_VERSION}`
    const hub = relay(name)
    const run = await startRun(uniqueName('s'), 'through a tunnel', { tokens: 60, rate: 10 })
    await hub.open(specOf(run, { reconnect }))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 5)
    await commands.setWorkerOffline(worker, true)
    await waitFor(async () => (await hub.diagnostics()).online === false, { what: 'the worker to be offline' })
    await cutConnections(run.streamId) // emulation alone leaves an open response alone; a real outage does not
    const offlineSince = performance.now()
    const { connectionsOpened: openedWhenCut } = await waitFor(async () => {
      const d = await hub.diagnostics()
      return d.runs[0]?.status === 'reconnecting' ? d : undefined
    }, { what: 'the run to notice the cut' })
    // The outage itself is the scenario: it lasts outageMs, and the hub is watched all along.
    await waitFor(() => performance.now() - offlineSince >= outageMs || seen.statuses.includes('failed'), { timeoutMs: outageMs + 5000, intervalMs: 200, what: 'the outage to last' })
    expect(seen.statuses).not.toContain('failed')
    const { runs, connectionsOpened } = await hub.diagnostics()
    expect(runs[0]?.status).toBe('reconnecting')
    expect(connectionsOpened[run.streamId]).toBe(openedWhenCut[run.streamId]) // no attempt while offline
    await commands.setWorkerOffline(worker, false)
    await waitFor(() => seen.finished, { timeoutMs: 20_000, what: 'the run to end after the outage' })
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  }, 10 * 60_000)

  it('rides out a server-side network outage within its retries, and resumes from its cursor: nothing lost or doubled (every engine)', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'the server drops off the network', { tokens: 60, rate: 20 })
    await hub.open(specOf(run, { reconnect: { baseMs: 100, maxMs: 400, maxRetries: 30 } }))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 5)
    await setFaults(run.streamId, { refuse: true })
    await cutConnections(run.streamId)
    // The outage lasts until the hub has been refused a few times (polled, not slept).
    await waitFor(async () => (await serverStats(run.streamId)).refused >= 3, { timeoutMs: 15_000, what: 'reconnects to be refused' })
    expect(seen.statuses).toContain('reconnecting')
    await setFaults(run.streamId, {})
    await waitFor(() => seen.finished, { timeoutMs: 20_000, what: 'the run to end after the outage' })
    expect(seen.statuses.at(-1)).toBe('ended')
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    const stats = await serverStats(run.streamId)
    expect(stats.opened).toBe(2) // one before the outage, one after; the refused ones never opened
    expect(stats.cursors[1]).toMatch(/^after_seq=[1-9]/)
  })
})
