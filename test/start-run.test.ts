import { describe, expect, it } from 'vitest'
import { RelayError, startRun } from '../src/index.ts'
import { finishedTranscript, recorder, serverStats, shape, uniqueName, useRelays, waitFor } from './helpers.ts'

/** `startRun`: the POST, the 409 of a session that already runs, and `open`, against the dev chat server. */
const relay = useRelays('start-run')

describe('startRun', () => {
  it('starts a turn and opens its run; a second start while it runs joins it (409 active_stream_id), with no second connection', async () => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const seen = recorder()
    hub.subscribe({ sessionId }, seen.handlers)
    // 2 s of run (the dev server keeps its rate by the clock): the second start must come while it runs, on a loaded machine too.
    const first = await startRun(hub, { sessionId, message: 'hello', body: { tokens: 200, rate: 100 } })
    expect(first.joined).toBe(false)
    expect(first.run.sessionId).toBe(sessionId)
    const again = await startRun(hub, { sessionId, message: 'hello again' })
    expect(again).toMatchObject({ runId: first.runId, joined: true })
    await waitFor(() => seen.ended, { what: 'the run to end' })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(first.runId)))
    expect((await serverStats(first.runId)).opened).toBe(1)
  })

  it('rejects with a typed error when the start endpoint refuses', async () => {
    const hub = relay()
    const error = await startRun(hub, { sessionId: uniqueName('session'), message: 'x', url: '/api/chat/no-such-endpoint' }).catch((reason: unknown) => reason)
    expect(error).toBeInstanceOf(RelayError)
    expect(error).toMatchObject({ code: 'not_found' })
    expect((error as RelayError).message).toContain('/api/chat/no-such-endpoint')
  })
})
