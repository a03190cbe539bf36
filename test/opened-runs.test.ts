import { describe, expect, it } from 'vitest'
import type { RunSummary } from '../common/model.ts'
import { OpenedRuns } from '../src/opened-runs.ts'
import { engine, killableRelay } from './engine.ts'
import { finishedTranscript, recorder, serverStats, shape, specOf, startRun, uniqueName, waitFor, type StartedRun } from './helpers.ts'

/**
 * The runs a client opens again on a new hub after a crash: the list it keeps (src/opened-runs.ts,
 * pure), and the recovery through a real SharedWorker against the dev chat server.
 */

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

describe('after a hub crash', () => {
  // Chromium kills the worker over the DevTools protocol; elsewhere it closes itself (test/engine.ts).
  it(`recover reopens only the runs still open: not those closed, ended or evicted${engine === 'chromium' ? '' : ' (the hub closes itself: no killing a worker outside Chromium)'}`, async () => {
    const name = uniqueName('recover')
    const { relay: here, kill } = await killableRelay(name, { livenessMs: 200, callTimeoutMs: 1000 })
    const firstHub = (await here.ready).hubId
    const live = await Promise.all([0, 1].map((i) => startRun(uniqueName('s'), `live ${i}`, { tokens: 80, rate: 40 })))
    const ended = await startRun(uniqueName('s'), 'ends early', { tokens: 5, rate: 100 })
    const evicted = await startRun(uniqueName('s'), 'ends and is evicted', { tokens: 5, rate: 100 })
    const closed = await startRun(uniqueName('s'), 'closed by the app', { tokens: 80, rate: 40 })
    for (const run of live) await here.open(specOf(run))
    await here.open(specOf(ended))
    await here.open(specOf(evicted, { retentionMs: 0 }))
    await here.open(specOf(closed))
    await here.close(closed.streamId)
    // The relay learns of ends and evictions from the hub's registry: wait until a snapshot has told
    // this page. Not the snapshot a new watch gets at once, which only this watch gets: the relay's
    // own watch hears the same runs only in the next throttled snapshot, which the hub sends to every
    // watch at once (a hub that vanishes before sending it costs one more connection: see docs/lifecycle.md).
    let registry: RunSummary[] = []
    let snapshots = 0
    const unwatch = here.watchRuns((runs) => ((registry = runs), snapshots++))
    await waitFor(() => {
      if (snapshots < 2) return false
      const status = (run: StartedRun) => registry.find((r) => r.runId === run.streamId)?.status
      return status(ended) === 'ended' && status(closed) === 'failed' && status(evicted) === undefined && status(live[0]!) !== undefined
    }, { what: 'one run to end, one to be closed and one to be evicted' })
    unwatch()
    const seen = live.map(() => recorder())
    live.forEach((run, i) => here.subscribe({ runId: run.streamId }, seen[i]!.handlers))
    await waitFor(() => seen.every((s) => s.events.length >= 5))

    const gone = { ended, evicted, closed }
    const connectionsOf = async () => Object.fromEntries(await Promise.all(Object.entries(gone).map(async ([what, run]) => [what, (await serverStats(run.streamId)).opened])))
    const before = await connectionsOf()

    await kill()
    await waitFor(() => seen.every((s) => s.ended), { timeoutMs: 20_000, what: 'the live runs to end on the new hub' })
    // Asked until it answers: the client's 1 s call deadline (short, for a fast recovery) can pass on a loaded machine.
    const { hubId, runs } = await waitFor(() => here.diagnostics(), { what: 'the new hub to answer diagnostics' })
    expect(hubId).not.toBe(firstHub)
    expect(runs.map((r) => r.runId).sort()).toEqual(live.map((r) => r.streamId).sort())
    expect(await connectionsOf()).toEqual(before) // none of them was opened again
    for (const [i, run] of live.entries()) expect(shape(seen[i]!.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })
})
