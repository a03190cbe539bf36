import { describe, expect, it } from 'vitest'
import { memoryRunLog, referenceFormat, runEventStream, uiMessageFormat, UI_CHUNK_EVENT, type RunLog } from '../server/index.ts'
import { waitFor } from './wait.ts'

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
    let records = 0
    const deaf: RunLog = { ...inner, follow: async () => () => {}, record: async (runId) => inner.record(runId).finally(() => records++) }
    await inner.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const reading = readAll(runEventStream(deaf, 'r', { afterSeq: 0, format: referenceFormat, abandonCheckMs: 50, heartbeatMs: 10_000 }))
    // The stream has read the run's record (it started, and saw no entries): what comes now, only the log can tell it.
    await waitFor(() => records >= 1, 'the stream to start')
    await inner.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }, [{ event: 'token', data: '{"text":"a"}' }, { event: 'stream_end', data: '{}' }], true)
    expect(await reading).toBe('id: r:1\nevent: token\ndata: {"text":"a"}\n\nid: r:2\nevent: stream_end\ndata: {}\n\n')
  })

  it('an entry the format writes as nothing (a UI message stream entry that is not a chunk) does not stall the stream', async () => {
    const log = memoryRunLog()
    await log.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const reader = runEventStream(log, 'r', { afterSeq: 0, format: uiMessageFormat, heartbeatMs: 10_000 }).getReader()
    const fence = (expectedSeq: number) => ({ owner: 'o', expectedSeq, leaseMs: 10_000 })
    // The client is waiting for a chunk when the first batch, written as nothing, arrives alone.
    const first = reader.read()
    await log.append('r', fence(0), [{ event: 'metering', data: '{}' }], false)
    await new Promise((resolve) => setImmediate(resolve))
    await log.append('r', fence(1), [{ event: UI_CHUNK_EVENT, data: '{"type":"start"}' }], false)
    const chunk = await Promise.race([first, new Promise((resolve) => setTimeout(() => resolve('stalled'), 2000))])
    expect(chunk).toEqual({ done: false, value: new TextEncoder().encode('id: r:2\ndata: {"type":"start"}\n\n') })
    await reader.cancel()
  })

  it('stops reading the log while the client is not reading (a pull per chunk, one page ahead)', async () => {
    const inner = memoryRunLog()
    let reads = 0
    const counting: RunLog = { ...inner, read: (...args) => (reads++, inner.read(...args)) }
    await inner.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const entries = Array.from({ length: 5000 }, (_, i) => ({ event: 'token', data: `{"i":${i}}` }))
    await inner.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }, entries, false)
    const reader = runEventStream(counting, 'r', { afterSeq: 0, format: referenceFormat, pageSize: 100 }).getReader()
    // Each page the client takes is one read: the page it got, one more in the body (its high-water
    // mark), and the one after that being fetched (a catch-up's next page is read while the client
    // takes this one). A stream that read ahead would have read all 50 pages while the polls below wait.
    for (let taken = 1; taken <= 5; taken++) {
      await reader.read()
      await waitFor(() => reads >= taken + 2, `read ${taken + 2}`)
    }
    expect(reads).toBe(7)
    await reader.cancel()
  })

  it('stops following when its first status check fails (the log went away): no channel or listener is left', async () => {
    const inner = memoryRunLog()
    await inner.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    let unfollowed = 0
    const failing: RunLog = {
      ...inner,
      follow: async (runId, listener) => {
        const unfollow = await inner.follow(runId, listener)
        return () => (unfollowed++, unfollow())
      },
      record: async () => {
        throw new Error('the log is down')
      },
    }
    await expect(readAll(runEventStream(failing, 'r', { afterSeq: 0, format: referenceFormat }))).rejects.toThrow('the log is down')
    expect(unfollowed).toBe(1)
  })

  it('undoes a follow that answers only after its timeout, once it answers', async () => {
    const inner = memoryRunLog()
    await inner.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    let unfollowed = 0
    let answer = () => {}
    const slow: RunLog = {
      ...inner,
      follow: (runId, listener) =>
        new Promise((resolve) => {
          answer = () => void inner.follow(runId, listener).then((unfollow) => resolve(() => (unfollowed++, unfollow())))
        }),
    }
    await expect(readAll(runEventStream(slow, 'r', { afterSeq: 0, format: referenceFormat, logTimeoutMs: 50 }))).rejects.toThrow('did not answer a follow')
    answer()
    await waitFor(() => unfollowed === 1, 'the late follow to be undone')
  })
})
