import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { createUIMessageServer, memoryRunLog, type RunLog } from '../server/index.ts'
import { startInstance, type Instance } from './instances.ts'
import { openRedisLog, redisUrl } from './redis-client.ts'
import { readSse, type SseEvent } from './sse-client.ts'
import { serve } from './serve.ts'
import { uiTokenTurn } from './ui-turn.ts'
import { waitFor } from './wait.ts'

const backends: Array<[string, () => Promise<RunLog>]> = [
  ['memory', async () => memoryRunLog()],
  ['Redis', () => openRedisLog()],
]
const post = (body: object) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
const chunks = (events: SseEvent[]) => events.map((e) => (e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as { type: string; delta?: string })))
const text = (events: SseEvent[]) => chunks(events).map((c) => (typeof c === 'object' && c.type === 'text-delta' ? c.delta : '')).join('')
const expected = (tokens: number) => Array.from({ length: tokens }, (_, i) => `w${i} `).join('')

for (const [name, openLog] of backends) {
  describe(`AI SDK UI message stream, ${name} log`, () => {
    const cleanups: Array<() => Promise<void>> = []
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })
    async function setup() {
      const app = createUIMessageServer({ log: await openLog(), execute: uiTokenTurn })
      const http = await serve(app.fetch)
      cleanups.push(() => app.host.close(), () => http.close())
      return http.url
    }

    it('POST answers with the UI message stream; a resume GET mid-turn replays it from the first chunk; 204 after', async () => {
      const url = await setup()
      const body = { id: 'chat-1', messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi' }] }], tokens: 60, rate: 300 }
      const first = await readSse(`${url}/api/chat`, { ...post(body), stopWhen: (events) => events.length >= 10 })
      expect(first.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1')
      // Each chunk names its run and seq; the AI SDK ignores ids, RelayChatTransport resumes after them.
      expect(first.events.every((e) => e.event === undefined && /^[^:]+:\d+$/.test(e.id ?? ''))).toBe(true)
      const [runId, seq] = first.events[4]!.id!.split(':')
      const after = await readSse(`${url}/api/chat/chat-1/stream?after_event_id=${encodeURIComponent(`${runId}:${seq}`)}`, { stopWhen: (events) => events.length >= 3 })
      expect(after.events.slice(0, 3).map((e) => e.id)).toEqual([5, 6, 7].map((n) => `${runId}:${Number(seq) + n - 4}`))
      // An id of another turn (or none) replays from the first chunk.
      const other = await readSse(`${url}/api/chat/chat-1/stream`, { headers: { 'Last-Event-ID': 'r-old:40' }, stopWhen: (events) => events.length >= 1 })
      expect(other.events[0]!.id).toBe(`${runId}:1`)
      const resumed = await readSse(`${url}/api/chat/chat-1/stream`)
      expect(resumed.ended).toBe(true)
      // The start chunk carries the reply's message id, the same on every read: a resume is the same bubble.
      expect(chunks(resumed.events).slice(0, 2)).toEqual([{ type: 'start', messageId: expect.stringMatching(/^msg-/) }, { type: 'text-start', id: 'text-1' }])
      expect(chunks(first.events)[0]).toEqual(chunks(resumed.events)[0])
      expect(text(resumed.events)).toBe(expected(60))
      expect(chunks(resumed.events).slice(-3)).toEqual([{ type: 'text-end', id: 'text-1' }, { type: 'finish' }, '[DONE]'])
      expect(resumed.events.slice(0, first.events.length)).toEqual(first.events)
      const none = await fetch(`${url}/api/chat/chat-1/stream`)
      expect(none.status).toBe(204)
      expect((await fetch(`${url}/api/chat/never/stream`)).status).toBe(204)
    })

    it('DELETE stops the turn for every reader: an abort chunk, then [DONE]', async () => {
      const url = await setup()
      const reading = readSse(`${url}/api/chat`, post({ id: 'chat-2', messages: [], tokens: 100_000, rate: 500 }))
      await waitFor(async () => (await fetch(`${url}/api/chat/chat-2/stream`)).status === 200, 'the turn to run')
      const resume = readSse(`${url}/api/chat/chat-2/stream`)
      expect(await (await fetch(`${url}/api/chat/chat-2/stream`, { method: 'DELETE' })).json()).toEqual({ ok: true, cancelled: true })
      for (const read of await Promise.all([reading, resume])) expect(chunks(read.events).slice(-2)).toEqual([{ type: 'abort' }, '[DONE]'])
    })

    it('refuses a bad POST with 400 and a second turn of a running chat with 409', async () => {
      const url = await setup()
      expect((await fetch(`${url}/api/chat`, post({ messages: [] }))).status).toBe(400)
      const reading = readSse(`${url}/api/chat`, post({ id: 'chat-3', messages: [], tokens: 50, rate: 200 }))
      await waitFor(async () => (await fetch(`${url}/api/chat/chat-3/stream`)).status === 200, 'the turn to run')
      expect((await fetch(`${url}/api/chat`, post({ id: 'chat-3', messages: [] }))).status).toBe(409)
      expect(text((await reading).events)).toBe(expected(50))
    })
  })
}

describe('AI SDK UI message stream, two instances on one Redis', () => {
  const running: Instance[] = []
  afterEach(async () => {
    for (const instance of running.splice(0)) await instance.stop()
  })

  it('a turn POSTed to A resumes whole on B; after A is killed, B readers get an error chunk and [DONE]', async () => {
    const env = { REDIS_URL: redisUrl(), REDIS_PREFIX: `ui-${Math.random().toString(36).slice(2, 8)}:`, LEASE_MS: '1000' }
    const [a, b] = await Promise.all([startInstance(env), startInstance(env)])
    running.push(a, b)
    const first = await readSse(`${a.url}/api/ai/chat`, { ...post({ id: 'c1', messages: [], tokens: 40, rate: 400 }), stopWhen: (events) => events.length >= 5 })
    const resumed = await readSse(`${b.url}/api/ai/chat/c1/stream`)
    expect(resumed.events.slice(0, first.events.length)).toEqual(first.events)
    expect(text(resumed.events)).toBe(expected(40))
    // Its connection dies with B: only the resume on A is read.
    void readSse(`${b.url}/api/ai/chat`, post({ id: 'c2', messages: [], tokens: 1_000_000, rate: 200 })).catch(() => {})
    await waitFor(async () => (await fetch(`${a.url}/api/ai/chat/c2/stream`)).status === 200, 'the turn on B')
    const onA = readSse(`${a.url}/api/ai/chat/c2/stream`, { timeoutMs: 15_000 })
    await waitFor(async () => ((await (await fetch(`${b.url}/stats`)).json()) as { producing: number }).producing === 1, 'B producing')
    await b.kill9()
    const read = await onA
    expect(chunks(read.events).slice(-2)).toEqual([{ type: 'error', errorText: 'the live worker stopped' }, '[DONE]'])
    expect((await fetch(`${a.url}/api/ai/chat/c2/stream`)).status).toBe(204)
  })
})

describe('createUIMessageServer writer.merge', () => {
  it('leaves no abort listener on the turn signal per merged stream once it ended', async () => {
    let listeners = -1
    const app = createUIMessageServer({
      log: memoryRunLog(),
      async execute({ writer, signal }) {
        const before = getEventListeners(signal, 'abort').length
        for (let i = 0; i < 20; i++) {
          await writer.merge(new ReadableStream({ start: (controller) => (controller.enqueue({ type: 'text-delta', id: 't', delta: `${i}` }), controller.close()) }))
        }
        listeners = getEventListeners(signal, 'abort').length - before
      },
    })
    const response = await app.fetch(new Request('http://localhost/api/chat', post({ id: 'c', messages: [] })))
    const body = await response.text()
    expect(body).toContain('"delta":"19"')
    expect(listeners).toBe(0)
    await app.host.close()
  })
})
