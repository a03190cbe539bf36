import { afterEach, describe, expect, it } from 'vitest'
import { createRunRelay, type RunRelay } from '../src/index.ts'
import { finishedTranscript, recorder, serverStats, shape, startRun, uniqueName, waitFor } from './helpers.ts'

const relays: RunRelay[] = []
function relay() {
  const r = createRunRelay({ name: uniqueName('e2e') })
  relays.push(r)
  return r
}
afterEach(() => {
  for (const r of relays.splice(0)) r.dispose()
})

describe('through a real SharedWorker against the dev chat server', () => {
  it('delivers every event of a run once, in order, and ends on stream_end', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('session'), 'hello there', { tokens: 30, rate: 200 })
    await hub.open({ runId: run.streamId, sessionId: run.sessionId, url: run.url })
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.ended, { what: 'the run to end' })
    const sent = await finishedTranscript(run.streamId)
    expect(shape(seen.events)).toEqual(shape(sent))
    expect(seen.events.map((e) => e.seq)).toEqual(sent.map((_, i) => i + 1))
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })
})
