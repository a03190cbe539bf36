import { describe, expect, it } from 'vitest'
import type { RunEvent, RunSpec } from '../src/index.ts'
import { killableRelay } from './engine.ts'
import { recorder, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * Durable Streams, against the protocol's reference server (`@durable-streams/server`, real,
 * started by test-node/durable-streams-plugin.ts behind a proxy that cuts and closes): offsets
 * come in control events, never as `id:` lines; the hub resumes from them, whole, and the app
 * sees only the data events.
 */
const relay = useRelays('ds')
const COUNT = 200

/** Starts a producer that appends COUNT messages to a new stream, `everyMs` apart, then closes it. */
async function produce(name: string, { everyMs = 5, type = 'application/json', wait = false } = {}): Promise<void> {
  const answer = await fetch(`/ds-produce?stream=${name}&count=${COUNT}&everyMs=${everyMs}&type=${encodeURIComponent(type)}&wait=${wait ? 1 : 0}`, { method: 'POST' })
  expect(answer.ok).toBe(true)
}

/** The messages a subscriber got, from the data events (each a JSON array of one message). */
const messagesOf = (events: RunEvent[]) => events.flatMap((event) => JSON.parse(event.data) as Array<{ n: number; text: string }>)
const expected = Array.from({ length: COUNT }, (_, n) => ({ n, text: `message ${n} é` }))
const requestsOf = async (name: string) => ((await (await fetch(`/ds-log?stream=${name}`)).json()) as { requests: string[] }).requests

async function follow(spec: RunSpec, hub = relay()) {
  await hub.open(spec)
  const seen = recorder()
  hub.subscribe({ runId: spec.runId }, seen.handlers)
  await waitFor(() => seen.finished, { timeoutMs: 20_000, what: `stream ${spec.runId} to end or fail` })
  return seen
}

/** No sessionId: a stream is a session of its own. */
const spec = (name: string, path: string, extra: Partial<RunSpec> = {}): RunSpec => ({ runId: name, url: `${path}/v1/stream/${name}`, preset: 'durable-streams', ...extra })

describe('Durable Streams (the reference server)', () => {
  it('streams whole through a cut at message 80, resuming from the offset of its last control event', async () => {
    const name = uniqueName('cut')
    await produce(name)
    const hub = relay()
    const seen = await follow(spec(name, '/ds/cut-80'), hub)
    expect(seen.errors).toEqual([])
    expect(seen.ended).toBe(true)
    expect(seen.events.every((event) => event.type === 'data')).toBe(true) // control events never reach the app
    expect(messagesOf(seen.events)).toEqual(expected)
    const requests = await requestsOf(name)
    expect(requests.length).toBeGreaterThanOrEqual(2)
    expect(requests[0]).toMatch(/offset=-1/)
    const resumed = new URLSearchParams(requests[1])
    expect(resumed.get('offset')).toMatch(/^\d+_\d+$/) // the streamNextOffset it had, echoed
    expect(resumed.get('cursor')).toBeTruthy()
    // Without a sessionId the stream is its own session.
    expect((await hub.diagnostics()).runs.find((run) => run.runId === name)?.sessionId).toBe(name)
  })

  it('streams whole through a cut in a catch-up, where the data events came before their control event: those sent again are skipped', async () => {
    const name = uniqueName('catch-up')
    await produce(name, { everyMs: 0, wait: true }) // all written: the first response is one catch-up, one control at its end
    const seen = await follow(spec(name, '/ds/cut-80'))
    expect(seen.errors).toEqual([])
    expect(messagesOf(seen.events)).toEqual(expected)
    expect((await requestsOf(name)).length).toBe(2)
  })

  it('streams whole through clean closes every 300 ms: a close is routine, only streamClosed ends the run', async () => {
    const name = uniqueName('closes')
    await produce(name, { everyMs: 10 })
    const seen = await follow(spec(name, '/ds/close-300'))
    expect(seen.errors).toEqual([])
    expect(seen.ended).toBe(true)
    expect(messagesOf(seen.events)).toEqual(expected)
    expect((await requestsOf(name)).length).toBeGreaterThanOrEqual(4)
  })

  it('with no spec fields at all, recognises the server by its control events and streams whole through the closes', async () => {
    const name = uniqueName('auto')
    await produce(name, { everyMs: 10 })
    const seen = await follow({ runId: name, sessionId: name, url: `/ds/close-300/v1/stream/${name}?offset=-1&live=sse` })
    expect(seen.errors).toEqual([])
    expect(seen.ended).toBe(true)
    expect(messagesOf(seen.events)).toEqual(expected)
  })

  it('decodes a binary stream, which the server sends as base64 (Stream-SSE-Data-Encoding)', async () => {
    const name = uniqueName('base64')
    await produce(name, { type: 'application/octet-stream', everyMs: 0 })
    const seen = await follow(spec(name, '/ds/cut-50'))
    expect(seen.errors).toEqual([])
    expect(seen.events.map((event) => JSON.parse(event.data) as unknown)).toEqual(expected)
  })

  it('a hub that goes away mid-stream: the new one reads it again, and the subscriber resumes by count, nothing doubled', async () => {
    const name = uniqueName('killed')
    const { relay: here, kill } = await killableRelay(uniqueName('ds-hub'), { livenessMs: 200, callTimeoutMs: 1000 })
    await produce(name, { everyMs: 15 })
    await here.open(spec(name, '/ds'))
    const seen = recorder()
    here.subscribe({ runId: name }, seen.handlers)
    await waitFor(() => seen.events.length >= 30, { what: 'the first messages' })
    await kill()
    await waitFor(() => seen.finished, { timeoutMs: 20_000, what: 'the stream to end on the new hub' })
    expect(seen.statuses).toContain('reconnecting')
    expect(seen.errors).toEqual([])
    expect(messagesOf(seen.events)).toEqual(expected)
  })
})
