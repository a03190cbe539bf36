import { commands } from 'vitest/browser'
import { afterAll, expect, it } from 'vitest'
import { waitFor } from './helpers.ts'

afterAll(() => commands.closePackedConsumer())

it('works when packed, installed into node_modules and bundled by a consumer app; stays within its size budget', async () => {
  const consumer = await commands.servePackedConsumer()
  for (const [file, size] of Object.entries(consumer.gzipSizes)) expect(size, `${file} gzip bytes`).toBeLessThanOrEqual(consumer.budget[file]!)

  const tab = await commands.openTab(consumer.url)
  const streamId = await commands.evalInTab<string>(tab, `(async () => {
    const relay = createRunRelay({ name: 'consumer-' + Math.random() })
    const start = await fetch('/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: 'c1', message: 'packed', tokens: 20, rate: 200 }) })
    const { stream_id } = await start.json()
    await relay.open({ runId: stream_id, sessionId: 'c1', url: '/api/chat/stream?stream_id=' + stream_id })
    window.seen = { received: [], ended: false }
    relay.subscribe({ runId: stream_id }, {
      onEvents: (events) => window.seen.received.push(...events.map((e) => e.type + ' ' + e.data)),
      onStatus: (status) => (window.seen.ended = status === 'ended'),
    })
    return stream_id
  })()`)
  await waitFor(() => commands.evalInTab<boolean>(tab, 'window.seen.ended'), { what: 'the run to end in the consumer app' })
  const result = await commands.evalInTab<{ received: string[]; sent: string[]; opened: number }>(tab, `(async () => {
    const transcript = await (await fetch('/api/chat/transcript?stream_id=${streamId}')).json()
    const stats = await (await fetch('/api/chat/stats?stream_id=${streamId}')).json()
    return { received: window.seen.received, sent: transcript.events.map((e) => e.event + ' ' + e.data), opened: stats.streams['${streamId}'].opened }
  })()`)
  expect(result.sent.length).toBeGreaterThan(20)
  expect(result.received).toEqual(result.sent)
  expect(result.opened).toBe(1)
  await commands.closeTab(tab)
}, 120_000)
