import { describe, expect, it } from 'vitest'
import { finishedTranscript, recorder, shape, uniqueName, useRelays, waitFor, type StartedRun } from './helpers.ts'

/** Server-started runs reaching the page through a feed, through a real SharedWorker against the dev chat server. */
const relay = useRelays('feeds')

describe('server-started runs (feeds)', () => {
  /** The reference server's session channel, as a feed whose announcements open the run. */
  const sessionFeed = (sessionId: string) => ({
    feedId: `session:${sessionId}`,
    url: `/api/chat/session-events?session_id=${encodeURIComponent(sessionId)}`,
    announces: [{ event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }],
  })

  async function serverTurn(sessionId: string, message: string, settings: { rate?: number } = {}): Promise<StartedRun> {
    const response = await fetch('/api/chat/server-turn', { method: 'POST', body: JSON.stringify({ session_id: sessionId, message, tokens: 30, rate: 60, ...settings }) })
    if (!response.ok) throw new Error(`server turn failed: ${response.status}`)
    const { stream_id: streamId } = (await response.json()) as { stream_id: string }
    return { streamId, sessionId, url: `/api/chat/stream?stream_id=${streamId}` }
  }
  const channelStats = async (sessionId: string) => (await fetch(`/api/chat/session-events/stats?session_id=${sessionId}`)).json() as Promise<{ open: number; opened: number }>

  it('reach a session subscriber with no page code: announced live, whole, one feed connection for two tabs', async () => {
    const name = uniqueName('feed')
    const sessionId = uniqueName('session')
    const [a, b] = [relay(name), relay(name)]
    await a.openFeed(sessionFeed(sessionId))
    await b.openFeed(sessionFeed(sessionId)) // joins
    const seen = recorder()
    await b.subscribe({ sessionId }, seen.handlers).ready
    await waitFor(async () => (await channelStats(sessionId)).open === 1, { what: 'the feed to connect' })
    const run = await serverTurn(sessionId, 'a cron job reports')
    await waitFor(() => seen.ended, { what: 'the server-started run to reach the session subscriber' })
    expect(seen.runs.map((r) => r.runId)).toEqual([run.streamId])
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(await channelStats(sessionId)).toEqual({ open: 1, opened: 1 })
    const { feeds } = await a.diagnostics()
    expect(feeds).toMatchObject([{ feedId: `session:${sessionId}`, announced: 1, rejected: 0, connected: true }])
  })

  it('recover an announcement missed while the channel was down', async () => {
    const sessionId = uniqueName('session')
    const hub = relay()
    await hub.openFeed({ ...sessionFeed(sessionId), reconnect: { baseMs: 200, maxMs: 1000 } })
    const seen = recorder()
    await hub.subscribe({ sessionId }, seen.handlers).ready
    await waitFor(async () => (await channelStats(sessionId)).open === 1, { what: 'the feed to connect' })
    await fetch(`/api/chat/session-events/outage?session_id=${sessionId}`, { method: 'POST', body: JSON.stringify({ ms: 1500 }) })
    const run = await serverTurn(sessionId, 'announced while nobody listened', { rate: 10 }) // still live when the channel is back
    await waitFor(() => seen.ended, { timeoutMs: 15_000, what: 'the missed run to arrive after the channel came back' }).catch(async (error: Error) => {
      throw new Error(`${error.message}; feeds: ${JSON.stringify((await hub.diagnostics()).feeds)}`)
    })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await channelStats(sessionId)).opened).toBeGreaterThan(1)
  })

  it('refuses a feed without announcements, and counts announcements it cannot use', async () => {
    const hub = relay()
    await expect(hub.openFeed({ feedId: 'f', url: '/x', announces: [] })).rejects.toMatchObject({ code: 'invalid_spec' })
    const sessionId = uniqueName('session')
    const feed = sessionFeed(sessionId)
    await hub.openFeed({ ...feed, announces: [{ event: 'server_turn_started', run: { ...feed.announces[0]!.run, runId: '{no_such_field}' } }] })
    await waitFor(async () => (await channelStats(sessionId)).open === 1)
    await serverTurn(sessionId, 'cannot be named')
    await waitFor(async () => (await hub.diagnostics()).feeds[0]?.rejected === 1)
    expect((await hub.diagnostics()).feeds[0]?.error?.message).toContain('no_such_field')
  })
})
