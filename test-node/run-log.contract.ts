import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { LiveBatch, LogEntry, RunLog } from '../server/run-log.ts'
import { waitFor } from './wait.ts'

/** Makes a fresh log (its own key space); `retainMs` as given. */
export type LogFactory = (options: { retainMs?: number }) => Promise<RunLog>

let counter = 0
const ids = () => {
  counter++
  return { runId: `run-${counter}-${Math.random().toString(36).slice(2, 7)}`, sessionId: `session-${counter}`, owner: `owner-${counter}` }
}
const entries = (...names: string[]) => names.map((name) => ({ event: 'token', data: JSON.stringify({ text: name }) }))

/** One contract, every backend: what the HTTP layer relies on. */
export function runLogContract(name: string, factory: LogFactory): void {
  describe(`RunLog contract: ${name}`, () => {
    let log: RunLog
    const opened: RunLog[] = []
    const open = async (options: { retainMs?: number } = {}) => {
      const made = await factory(options)
      opened.push(made)
      return made
    }
    beforeEach(async () => {
      log = await open()
    })
    afterEach(async () => {
      for (const made of opened.splice(0)) await made.close()
    })

    it('creates a run as its session active run, and refuses a second one with the active id', async () => {
      const { runId, sessionId, owner } = ids()
      expect(await log.create({ runId, sessionId, owner, leaseMs: 10_000 })).toEqual({ ok: true })
      expect(await log.record(runId)).toEqual({ runId, sessionId, lastSeq: 0, ended: false, abandoned: false })
      expect(await log.activeRun(sessionId)).toBe(runId)
      expect(await log.create({ runId: `${runId}-b`, sessionId, owner, leaseMs: 10_000 })).toEqual({ ok: false, activeRunId: runId })
    })

    it('appends batches with gapless seqs from 1 and reads them back by cursor', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      expect(await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, entries('a', 'b'), false)).toEqual({ ok: true, lastSeq: 2 })
      expect(await log.append(runId, { owner, expectedSeq: 2, leaseMs: 10_000 }, [{ event: 'tool', data: 'multi\nline' }], false)).toEqual({ ok: true, lastSeq: 3 })
      const all = await log.read(runId, 0, 100)
      expect(all).toEqual([
        { seq: 1, event: 'token', data: '{"text":"a"}' },
        { seq: 2, event: 'token', data: '{"text":"b"}' },
        { seq: 3, event: 'tool', data: 'multi\nline' },
      ])
      expect(await log.read(runId, 1, 1)).toEqual([all[1]])
      expect(await log.read(runId, 3, 10)).toEqual([])
      expect((await log.record(runId))?.lastSeq).toBe(3)
    })

    it('reads any window of seqs, inside a batch or across batches, whole and in order', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      // Batches of 5, 1 and 4 entries (the Redis log stores a batch as one stream entry).
      const names = Array.from({ length: 10 }, (_, i) => `w${i + 1}`)
      await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, entries(...names.slice(0, 5)), false)
      await log.append(runId, { owner, expectedSeq: 5, leaseMs: 10_000 }, entries(...names.slice(5, 6)), false)
      await log.append(runId, { owner, expectedSeq: 6, leaseMs: 10_000 }, entries(...names.slice(6)), true)
      const seqs = async (after: number, limit: number) => (await log.read(runId, after, limit)).map((entry) => `${entry.seq}:${JSON.parse(entry.data).text}`)
      const expected = (after: number, limit: number) => names.slice(after, after + limit).map((name, i) => `${after + i + 1}:${name}`)
      for (let after = 0; after <= 10; after++) for (const limit of [1, 2, 3, 4, 6, 100]) expect(await seqs(after, limit), `after ${after}, limit ${limit}`).toEqual(expected(after, limit))
    })

    it('fences appends: a stale seq, a retry that already landed, or another owner cannot fork the log', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, entries('a'), false)
      // The same append retried (its reply was lost): refused, not written twice.
      expect(await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, entries('a'), false)).toEqual({ ok: false, reason: 'stale', lastSeq: 1 })
      expect(await log.append(runId, { owner: 'intruder', expectedSeq: 1, leaseMs: 10_000 }, entries('x'), false)).toEqual({ ok: false, reason: 'stale', lastSeq: 1 })
      expect(await log.append(runId, { owner, expectedSeq: 5, leaseMs: 10_000 }, entries('x'), false)).toEqual({ ok: false, reason: 'stale', lastSeq: 1 })
      expect(await log.read(runId, 0, 10)).toEqual([{ seq: 1, event: 'token', data: '{"text":"a"}' }])
    })

    it('ends a run with its final append: the session is free, later appends are refused', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, [...entries('a'), { event: 'stream_end', data: '{}' }], true)
      expect(await log.record(runId)).toMatchObject({ lastSeq: 2, ended: true, abandoned: false })
      expect(await log.activeRun(sessionId)).toBeUndefined()
      expect(await log.append(runId, { owner, expectedSeq: 2, leaseMs: 10_000 }, entries('late'), false)).toEqual({ ok: false, reason: 'ended', lastSeq: 2 })
      expect(await log.create({ runId: `${runId}-next`, sessionId, owner, leaseMs: 10_000 })).toEqual({ ok: true })
    })

    it('ends a running run once from anyone (cancel): of five concurrent callers exactly one wins', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, entries('a'), false)
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => log.endRun(runId, { event: 'cancel', data: '{}' }, 'running')))
      expect(results.filter((r) => r.ok)).toEqual([{ ok: true, lastSeq: 2 }])
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'ended')).toBe(true)
      expect((await log.read(runId, 0, 10)).map((e) => e.event)).toEqual(['token', 'cancel'])
      expect(await log.activeRun(sessionId)).toBeUndefined()
      // The producer learns it at its next append.
      expect(await log.append(runId, { owner, expectedSeq: 1, leaseMs: 10_000 }, entries('b'), false)).toEqual({ ok: false, reason: 'ended', lastSeq: 2 })
    })

    it('ends an abandoned run only after its lease ran out, and renewals keep it alive', async () => {
      const { runId, sessionId, owner } = ids()
      // Redis keeps lease time by its own clock (TIME), so no clock can be injected: a lease long
      // enough that a stall of the test process between a renewal and its check (under load) is
      // not mistaken for an abandon, renewed past its first end.
      const leaseMs = 2000
      const created = Date.now()
      await log.create({ runId, sessionId, owner, leaseMs })
      const apperror = { event: 'apperror', data: '{"message":"the producer stopped"}' }
      expect(await log.endRun(runId, apperror, 'abandoned')).toEqual({ ok: false, reason: 'stale', lastSeq: 0 })
      while (Date.now() < created + leaseMs + 300) {
        expect(await log.renew(runId, owner, leaseMs)).toBe(true)
        expect((await log.record(runId))?.abandoned).toBe(false)
        // Renewal pacing, as a producer's interval (not a wait for a condition): a tenth of the lease.
        await new Promise((resolve) => setTimeout(resolve, leaseMs / 10))
      }
      expect(await log.renew(runId, 'intruder', leaseMs)).toBe(false)
      await waitFor(async () => (await log.record(runId))?.abandoned === true, 'the lease to run out')
      const results = await Promise.all([1, 2, 3].map(() => log.endRun(runId, apperror, 'abandoned')))
      expect(results.filter((r) => r.ok)).toEqual([{ ok: true, lastSeq: 1 }])
      expect(await log.record(runId)).toMatchObject({ ended: true, abandoned: false })
      expect(await log.renew(runId, owner, leaseMs)).toBe(false)
    })

    it('tells followers of every batch in order, with the end, and stops after unfollow', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      const seen: LiveBatch[] = []
      const unfollow = await log.follow(runId, (batch) => seen.push(batch))
      const other: LiveBatch[] = []
      const unfollowOther = await log.follow(runId, (batch) => other.push(batch))
      await log.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, entries('a', 'b'), false)
      await waitFor(() => other.length === 1, 'the first batch')
      unfollowOther()
      await log.endRun(runId, { event: 'cancel', data: '{}' }, 'running')
      await waitFor(() => seen.length === 2, 'the end')
      expect(seen).toEqual([
        { entries: [{ seq: 1, event: 'token', data: '{"text":"a"}' }, { seq: 2, event: 'token', data: '{"text":"b"}' }], ended: false },
        { entries: [{ seq: 3, event: 'cancel', data: '{}' }], ended: true },
      ])
      expect(other).toHaveLength(1)
      unfollow()
    })

    it('follow first, read second: a reader joining mid-run misses nothing and sees nothing twice', async () => {
      const { runId, sessionId, owner } = ids()
      await log.create({ runId, sessionId, owner, leaseMs: 10_000 })
      let seq = 0
      let writing = true
      const writer = (async () => {
        while (writing) {
          const result = await log.append(runId, { owner, expectedSeq: seq, leaseMs: 10_000 }, entries(`t${seq + 1}`), false)
          if (result.ok) seq = result.lastSeq
          // Yield to timers: the memory log resolves in microtasks and would otherwise finish before the reader joins.
          await new Promise((resolve) => setImmediate(resolve))
        }
      })()
      await waitFor(() => seq >= 20, 'the writer to start')
      const live: LogEntry[] = []
      const unfollow = await log.follow(runId, (batch) => live.push(...batch.entries))
      const read = await log.read(runId, 0, 100_000)
      await waitFor(() => seq >= read.length + 50, 'more live entries')
      writing = false
      await writer
      await waitFor(() => (live.at(-1)?.seq ?? 0) === seq, 'the last live entry')
      unfollow()
      const merged = [...read, ...live.filter((entry) => entry.seq > read.length)]
      expect(merged.map((entry) => entry.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1))
      expect(live[0]!.seq).toBeLessThanOrEqual(read.length + 1)
    })

    it('forgets an ended run after retainMs; unknown runs read as nothing', async () => {
      const short = await open({ retainMs: 200 })
      const { runId, sessionId, owner } = ids()
      await short.create({ runId, sessionId, owner, leaseMs: 10_000 })
      await short.append(runId, { owner, expectedSeq: 0, leaseMs: 10_000 }, [{ event: 'stream_end', data: '{}' }], true)
      expect((await short.record(runId))?.ended).toBe(true)
      await waitFor(async () => (await short.record(runId)) === undefined, 'the ended run to expire')
      expect(await short.read(runId, 0, 10)).toEqual([])
      expect(await short.append(runId, { owner, expectedSeq: 1, leaseMs: 10_000 }, entries('x'), false)).toEqual({ ok: false, reason: 'unknown', lastSeq: 0 })
      expect(await short.endRun(runId, { event: 'cancel', data: '{}' }, 'running')).toEqual({ ok: false, reason: 'unknown', lastSeq: 0 })
    })
  })
}
