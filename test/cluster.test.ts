import { describe, expect, it } from 'vitest'
import { recorder, shape, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * The hub against two run-relay/server instances on one Redis, behind a round-robin proxy that
 * cuts every stream response after 25 events (test-node/cluster-plugin.ts): every reconnect
 * lands on the other instance, and the subscriber's transcript is the log's, whole.
 */
const relay = useRelays('cluster')

async function start(sessionId: string, tokens: number, rate: number): Promise<string> {
  const response = await fetch('/cluster/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: sessionId, message: 'hi', tokens, rate }) })
  if (!response.ok) throw new Error(`start failed: ${response.status} ${await response.text()}`)
  return ((await response.json()) as { stream_id: string }).stream_id
}

/** The run's whole log in SSE, parsed to events (once the run has ended: a replay of a running run waits for its end). */
async function transcript(streamId: string): Promise<Array<{ id: string; event: string; data: string }>> {
  const text = await (await fetch(`/cluster/transcript?stream_id=${streamId}`)).text()
  return text
    .split('\n\n')
    .filter((frame) => frame.startsWith('id: '))
    .map((frame) => {
      const [id, event, data] = frame.split('\n').map((line) => line.slice(line.indexOf(': ') + 2))
      return { id: id!, event: event!, data: data! }
    })
}

describe('the hub against two server instances', () => {
  it.each(['eventsource', 'fetch'] as const)('with %s: reconnects land on both instances, each resumes from its cursor, and the transcript is whole', async (transport) => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const streamId = await start(sessionId, 300, 100)
    // Join late: the first response's catch-up is one chunk of more than 25 events, cut after its 25th.
    const lastSeq = async () => ((await (await fetch(`/cluster/api/chat/stream/status?stream_id=${streamId}`)).json()) as { journal: { last_seq: number } }).journal.last_seq
    await waitFor(async () => (await lastSeq()) >= 40, { what: 'a head start' })
    await hub.open({ runId: streamId, sessionId, url: `/cluster/api/chat/stream?stream_id=${streamId}`, preset: 'reference', transport, reconnect: { baseMs: 20, maxMs: 100 } })
    const seen = recorder()
    hub.subscribe({ runId: streamId }, seen.handlers)
    await waitFor(() => seen.ended, { what: 'the run to end', timeoutMs: 20_000 }).catch(async (e) => {
      throw new Error(`${e} ${JSON.stringify({ statuses: seen.statuses, errors: seen.errors, n: seen.events.length, conns: await (await fetch(`/cluster/connections?stream_id=${streamId}`)).json() })}`)
    })
    const sent = await transcript(streamId)
    expect(sent.at(-1)?.event).toBe('stream_end')
    expect(shape(seen.events)).toEqual(shape(sent))
    expect(seen.events.map((e) => e.id)).toEqual(sent.map((e) => e.id))
    const connections = (await (await fetch(`/cluster/connections?stream_id=${streamId}`)).json()) as Array<{ instance: 'A' | 'B'; cursor: string }>
    // Every response is cut after 25 events: 12 connections for 300 events, so both instances
    // served this run: a check of the setup (the proxy alternates by construction), not of the hub.
    // Every reconnect resumed from a cursor, not from the start.
    expect(connections.length).toBeGreaterThanOrEqual(5)
    expect(new Set(connections.map((c) => c.instance))).toEqual(new Set(['A', 'B']))
    expect(connections.slice(1).every((c) => c.cursor !== 'none')).toBe(true)
  })
})
