import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChatServer } from '../dev-server/chat-server.ts'
import { readSse, seqOf } from './sse-client.ts'

/**
 * The dev chat server's wire faults on run-relay/server's stream, read over a real socket: the
 * parts of the browser suite's knobs that a browser cannot see byte for byte.
 */
describe('the dev chat server on run-relay/server', () => {
  let server: Server
  let base: string
  beforeAll(async () => {
    const handle = createChatServer()
    server = createServer((req, res) => void handle(req, res, () => res.writeHead(404).end()))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })
  afterAll(() => {
    server.closeAllConnections()
    server.close()
  })

  const start = async (body: Record<string, unknown>) => {
    const response = await fetch(`${base}/api/chat/start`, { method: 'POST', body: JSON.stringify({ session_id: `dev-${Math.random().toString(36).slice(2, 10)}`, message: 'hi', ...body }) })
    expect(response.status).toBe(200)
    return ((await response.json()) as { stream_id: string }).stream_id
  }
  const transcript = async (runId: string) => (await (await fetch(`${base}/api/chat/transcript?stream_id=${runId}`)).json()) as { finished: boolean; events: Array<{ seq: number; event: string }> }

  it('a stalled response writes nothing more, not even heartbeats, and still ends when the run ends', async () => {
    const runId = await start({ tokens: 12, rate: 20, heartbeatMs: 20, faults: { stallAfter: 5 } })
    // text() resolves only when the server ends the response.
    const text = await (await fetch(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`)).text()
    const stalledAt = text.indexOf(`id: ${runId}:5\n`)
    expect(stalledAt).toBeGreaterThan(0)
    expect(text.slice(0, stalledAt)).toContain(': heartbeat') // the events came 50 ms apart: heartbeats until the stall
    expect(text.slice(stalledAt)).not.toContain(': heartbeat')
    expect(text).not.toContain(`id: ${runId}:6\n`)
    expect((await transcript(runId)).finished).toBe(true)
  })

  it('a stall right after a seq that the wire mode sends nothing for (OpenAI-style: a tool event) still stalls, and ends with the run', async () => {
    // Seq 7 is the `tool` event halfway through 12 tokens: no frame in this mode, only the mark.
    const runId = await start({ tokens: 12, rate: 100, wire: 'openai', faults: { stallAfter: 7 } })
    const text = await (await fetch(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`)).text()
    expect(text.match(/"content"/g)?.length).toBe(6)
    expect(text).not.toContain('[DONE]')
  })

  it('a skipped seq is left out once, and the same response goes on to the end', async () => {
    const runId = await start({ tokens: 10, rate: 50, faults: { skipSeqAt: 3 } })
    const read = await readSse(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`, { timeoutMs: 5000 })
    const seqs = read.events.map(seqOf)
    expect(seqs.slice(0, 3)).toEqual([1, 2, 4])
    expect(read.events.at(-1)?.event).toBe('stream_end')
    // The log keeps it: a replay has it.
    expect((await readSse(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`)).events.map(seqOf)).toEqual(Array.from({ length: seqs.length + 1 }, (_, k) => k + 1))
  })

  it('malformedAt writes a line without a colon and bytes that are not UTF-8 after that seq, once', async () => {
    const runId = await start({ tokens: 6, rate: 300, faults: { malformedAt: 2 } })
    const bytes = new Uint8Array(await (await fetch(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`)).arrayBuffer())
    const text = new TextDecoder().decode(bytes)
    expect(text).toContain(`id: ${runId}:2\n`)
    expect(text.indexOf('this line has no colon')).toBeGreaterThan(text.indexOf(`id: ${runId}:2\n`))
    expect(text.indexOf('this line has no colon')).toBeLessThan(text.indexOf(`id: ${runId}:3\n`))
    expect([...bytes].findIndex((byte, i) => byte === 0xff && bytes[i + 1] === 0xfe)).toBeGreaterThan(0)
    expect(bytes.includes(0x00)).toBe(false)
    const again = new TextDecoder().decode(await (await fetch(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`)).arrayBuffer())
    expect(again).not.toContain('this line has no colon')
  })

  it('a restart that stops the worker: a replay ends with an apperror without an id, which the transcript does not hold', async () => {
    const runId = await start({ tokens: 1000, rate: 200 })
    const live = readSse(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`, { stopWhen: (events) => events.length >= 5 })
    await live
    expect((await fetch(`${base}/api/chat/restart?stream_id=${runId}`, { method: 'POST', body: JSON.stringify({ journal: 'keep', worker: 'stop' }) })).status).toBe(200)
    const { finished, events } = await transcript(runId)
    expect(finished).toBe(true)
    const replay = await readSse(`${base}/api/chat/stream?stream_id=${runId}&after_seq=0`)
    expect(replay.events.slice(0, -1).map(seqOf)).toEqual(events.map((e) => e.seq))
    expect(replay.events.at(-1)).toMatchObject({ id: undefined, event: 'apperror' })
    expect(events.some((e) => e.event === 'apperror')).toBe(false)
  })
})
