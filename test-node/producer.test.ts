import { describe, expect, it } from 'vitest'
import { createRunHost, memoryRunLog, type RunLog } from '../server/index.ts'
import { waitFor } from './wait.ts'

/** A memory log that counts appends and can lose the reply of chosen appends (the write lands, the caller sees an error). */
function countingLog(loseReplyOf: Set<number> = new Set()) {
  const inner = memoryRunLog()
  const appends: number[] = []
  const log: RunLog = {
    ...inner,
    async append(runId, fence, entries, final) {
      appends.push(entries.length)
      const result = await inner.append(runId, fence, entries, final)
      if (loseReplyOf.has(appends.length)) throw new Error('connection reset (the reply was lost)')
      return result
    },
  }
  return { log, inner, appends }
}

describe('RunProducer', () => {
  it('reports a follow that failed (once, with the run) and still writes the run whole', async () => {
    const inner = memoryRunLog()
    const log: RunLog = { ...inner, follow: async () => Promise.reject(new Error('subscribe failed')) }
    const reported: Array<[string, string]> = []
    const host = createRunHost({ log, producer: { onFollowError: (error, runId) => reported.push([String(error), runId]) } })
    const started = await host.start('s', (run) => run.emit('token', { text: 'a' }))
    if (!started.ok) throw new Error('not started')
    await waitFor(async () => (await inner.record(started.runId))?.ended === true, 'the run to end')
    expect(reported).toEqual([['Error: subscribe failed', started.runId]])
    expect((await inner.read(started.runId, 0, 10)).map((e) => e.event)).toEqual(['token', 'stream_end'])
  })

  it('batches every emit of one tick into one append, never one round trip per event', async () => {
    const { log, inner, appends } = countingLog()
    const host = createRunHost({ log })
    const started = await host.start('s', (run) => {
      for (let i = 0; i < 1000; i++) run.emit('token', { text: `t${i}` })
    })
    if (!started.ok) throw new Error('not started')
    await waitFor(async () => (await inner.record(started.runId))?.ended === true, 'the run to end')
    // 1000 tokens in one tick: two appends (512 is the batch limit); stream_end joins the second.
    expect(appends).toEqual([512, 489])
    expect((await inner.read(started.runId, 0, 2000)).map((e) => e.seq)).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1))
  })

  it('retries an append whose reply was lost without writing it twice (the fence tells it landed)', async () => {
    const { log, inner } = countingLog(new Set([1]))
    const host = createRunHost({ log })
    const started = await host.start('s', async (run) => {
      run.emit('token', { text: 'a' })
      run.emit('token', { text: 'b' })
      await run.flush()
      run.emit('token', { text: 'c' })
    })
    if (!started.ok) throw new Error('not started')
    await waitFor(async () => (await inner.record(started.runId))?.ended === true, 'the run to end')
    expect((await inner.read(started.runId, 0, 10)).map((e) => `${e.seq}:${e.event}:${e.data}`)).toEqual(['1:token:{"text":"a"}', '2:token:{"text":"b"}', '3:token:{"text":"c"}', '4:stream_end:{}'])
    expect(started.producer.signal.aborted).toBe(false)
  })

  it("aborts the generator's signal on a cancel, and a generator that throws ends the run with apperror", async () => {
    const { inner } = countingLog()
    const host = createRunHost({ log: inner })
    const started = await host.start('s', (run) => new Promise<void>((resolve) => run.signal.addEventListener('abort', () => resolve())))
    if (!started.ok) throw new Error('not started')
    expect(await host.cancel(started.runId)).toBe('cancelled')
    await waitFor(() => started.producer.signal.aborted, 'the abort')
    expect(String(started.producer.signal.reason)).toMatch(/cancelled/)
    const failing = await host.start('s2', () => {
      throw new Error('the model is down')
    })
    if (!failing.ok) throw new Error('not started')
    await waitFor(async () => (await inner.record(failing.runId))?.ended === true, 'the failed run to end')
    expect(await inner.read(failing.runId, 0, 10)).toEqual([{ seq: 1, event: 'apperror', data: '{"message":"the model is down"}' }])
  })
})
