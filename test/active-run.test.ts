import { describe, expect, it } from 'vitest'
import type { RunSpec } from '../src/index.ts'
import { recorder, serverStats, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

const relay = useRelays('active-run')

/**
 * `relay.activeRun(sessionId)`: the session's live run, as `RelayChatTransport` asks for it
 * before it sends a resume request. The same answer over a server with ids (the reference
 * protocol) and one without (an AI SDK UI message stream).
 */
describe.each([
  { protocol: 'the reference protocol', wire: undefined, preset: 'reference' },
  { protocol: 'an AI SDK stream (no ids)', wire: 'ai-sdk', preset: 'ai-sdk' },
] as const)('activeRun over $protocol', ({ wire, preset }) => {
  it("is the session's latest run that has not ended, for every client of the hub; undefined before, after the end and after a close", async () => {
    const name = uniqueName('hub')
    const [here, other] = [relay(name), relay(name)]
    const sessionId = uniqueName('session')
    const open = async (session: string, message: string, tokens: number, rate: number) => {
      const run = await startRun(session, message, { tokens, rate, ...(wire ? { wire } : {}) })
      const spec: RunSpec = { runId: run.streamId, sessionId: session, url: run.url, preset }
      await here.open(spec)
      return run
    }
    expect(await here.activeRun(sessionId)).toBeUndefined()

    // A short run: active while it streams, not once it ended.
    const first = await open(sessionId, 'a short turn', 8, 200)
    const firstSeen = recorder()
    here.subscribe({ runId: first.streamId }, firstSeen.handlers)
    await waitFor(() => firstSeen.ended, { what: 'the short run to end' })
    expect(await here.activeRun(sessionId)).toBeUndefined()

    // A long run of the session, and one of another session opened after it: the session's own is active, for every client.
    const second = await open(sessionId, 'a long turn', 400, 20)
    const neighbour = await open(uniqueName('neighbour'), 'another session', 400, 20)
    for (const client of [here, other]) {
      const active = await client.activeRun(sessionId)
      expect(active).toMatchObject({ runId: second.streamId, sessionId })
      expect(['connecting', 'open']).toContain(active?.status)
    }
    expect(await here.activeRun(neighbour.sessionId)).toMatchObject({ runId: neighbour.streamId })

    // Closing the run (it fails with `closed`) leaves the session without an active run.
    await here.close(second.streamId)
    expect(await other.activeRun(sessionId)).toBeUndefined()
    await here.close(neighbour.streamId)
    expect(await here.activeRun(neighbour.sessionId)).toBeUndefined()
    expect((await serverStats(second.streamId)).opened).toBe(1) // asking opened nothing
    for (const run of [second, neighbour]) await fetch(`/api/chat/cancel?stream_id=${encodeURIComponent(run.streamId)}`) // the server stops generating too
  })
})
