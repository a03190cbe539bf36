import { describe, expect, it } from 'vitest'
import { memoryRunLog, referenceFormat, runEventStream, type RunLog } from '../server-lib/index.ts'

/** Reads a body to its end, returning the SSE text. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = ''
  const decoder = new TextDecoder()
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true })
  return text
}

describe('runEventStream', () => {
  it('a reader whose live hints are all lost (a dropped pub/sub message) still gets every event and the end', async () => {
    const inner = memoryRunLog()
    // Every live batch vanishes, as a DONE message lost over pub/sub does (resumable-stream #47).
    const deaf: RunLog = { ...inner, follow: async () => () => {} }
    await inner.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const reading = readAll(runEventStream(deaf, 'r', { afterSeq: 0, format: referenceFormat, abandonCheckMs: 50, heartbeatMs: 10_000 }))
    await new Promise((resolve) => setTimeout(resolve, 20))
    await inner.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }, [{ event: 'token', data: '{"text":"a"}' }, { event: 'stream_end', data: '{}' }], true)
    expect(await reading).toBe('id: r:1\nevent: token\ndata: {"text":"a"}\n\nid: r:2\nevent: stream_end\ndata: {}\n\n')
  })

  it('stops reading the log while the client is not reading (a pull per chunk, never ahead)', async () => {
    const inner = memoryRunLog()
    let reads = 0
    const counting: RunLog = { ...inner, read: (...args) => (reads++, inner.read(...args)) }
    await inner.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const entries = Array.from({ length: 5000 }, (_, i) => ({ event: 'token', data: `{"i":${i}}` }))
    await inner.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }, entries, false)
    const reader = runEventStream(counting, 'r', { afterSeq: 0, format: referenceFormat, pageSize: 100 }).getReader()
    await reader.read()
    await new Promise((resolve) => setTimeout(resolve, 50))
    // One page sent, at most one more read ahead (the body's high-water mark): not the 50 pages of the run.
    expect(reads).toBeLessThanOrEqual(2)
    await reader.cancel()
  })
})
