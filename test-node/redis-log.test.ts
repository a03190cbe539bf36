import { createHash } from 'node:crypto'
import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { fromNodeRedis, redisRunLog, type LiveBatch, type RedisConnection } from '../server/index.ts'
import { RECORD } from '../server/redis-scripts.ts'
import { redisUrl } from './redis-client.ts'
import { waitFor } from './wait.ts'

/** What the Redis log keeps in process memory, on a real redis-server (its contract is run-log.contract.ts). */
describe('redisRunLog', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it("an ended run frees its session, whoever ends it; a run written here never reads its own session back", async () => {
    const client = createClient({ url: redisUrl() })
    await client.connect()
    cleanups.push(() => client.close())
    const inner = fromNodeRedis(client)
    // The session of a run this log did not create is read from Redis by the record script: count those.
    const recordSha = createHash('sha1').update(RECORD).digest('hex')
    let recordReads = 0
    const counting: RedisConnection = { ...inner, send: (args, key) => (args[0] === 'EVALSHA' && args[1] === recordSha && recordReads++, inner.send(args, key)) }
    const prefix = `m${Math.random().toString(36).slice(2, 9)}:`
    const log = redisRunLog({ redis: counting, prefix })
    const other = redisRunLog({ redis: counting, prefix }) // another instance on the same Redis
    cleanups.push(() => log.close())
    const lease = { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }

    await log.create({ runId: 'ended', sessionId: 's1', owner: 'o', leaseMs: 10_000 })
    await log.append('ended', lease, [{ event: 'token', data: '{}' }], false)
    expect(await log.activeRun('s1')).toBe('ended')
    await log.append('ended', { ...lease, expectedSeq: 1 }, [{ event: 'stream_end', data: '{}' }], true)
    expect(await log.activeRun('s1')).toBeUndefined()
    expect(recordReads).toBe(0) // its session was remembered, and forgotten with the end

    await log.create({ runId: 'cancelled', sessionId: 's2', owner: 'o', leaseMs: 10_000 })
    expect((await other.endRun('cancelled', { event: 'cancel', data: '{}' }, 'running')).ok).toBe(true)
    expect(await log.activeRun('s2')).toBeUndefined()
    expect(recordReads).toBe(1) // the other instance read it once
    expect(await log.renew('cancelled', 'o', 10_000)).toBe(false)
  })

  it('claims a session in its own slot: a live run keeps it, a stale pointer (its run ended or expired) is taken over once', async () => {
    const client = createClient({ url: redisUrl() })
    await client.connect()
    cleanups.push(() => client.close())
    const prefix = `c${Math.random().toString(36).slice(2, 9)}:`
    const log = redisRunLog({ redis: fromNodeRedis(client), prefix })
    cleanups.push(() => log.close())
    expect(await log.create({ runId: 'a', sessionId: 's', owner: 'o', leaseMs: 10_000 })).toEqual({ ok: true })
    expect(await log.create({ runId: 'b', sessionId: 's', owner: 'o', leaseMs: 10_000 })).toEqual({ ok: false, activeRunId: 'a' })
    // A pointer left behind (the instance died between the end and the release): the next claim repairs it.
    await client.sendCommand(['SET', `${prefix}session:{t}`, 'gone'])
    expect(await log.create({ runId: 'c', sessionId: 't', owner: 'o', leaseMs: 10_000 })).toEqual({ ok: true })
    expect(await log.activeRun('t')).toBe('c')
    // Concurrent starts in one session: exactly one wins.
    const results = await Promise.all(['d1', 'd2', 'd3', 'd4'].map((runId) => log.create({ runId, sessionId: 'u', owner: 'o', leaseMs: 10_000 })))
    expect(results.filter((result) => result.ok)).toHaveLength(1)
    // Every key a script touches hashes to one slot: the run's keys share {run}, the session's pointer has its own tag.
    const keys = (await client.sendCommand(['KEYS', `${prefix}*`])) as string[]
    expect(keys.every((key) => /\{[^}]+\}/.test(key))).toBe(true)
  })

  it('stores a batch as one stream entry, and still reads the forms written before (a JSON batch; one entry per event)', async () => {
    const client = createClient({ url: redisUrl() })
    await client.connect()
    cleanups.push(() => client.close())
    const prefix = `b${Math.random().toString(36).slice(2, 9)}:`
    const log = redisRunLog({ redis: fromNodeRedis(client), prefix })
    cleanups.push(() => log.close())
    await log.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const batch = Array.from({ length: 300 }, (_, i) => ({ event: 'token', data: JSON.stringify({ i }) }))
    await log.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }, batch, false)
    expect(await client.sendCommand(['XLEN', `${prefix}{r}:s`])).toBe(1)
    expect((await log.read('r', 0, 1000)).map((entry) => entry.seq)).toEqual(batch.map((_, i) => i + 1))
    // Entries of the earlier forms after the batch: a JSON batch, then one entry per event.
    await client.sendCommand(['XADD', `${prefix}{r}:s`, '302-0', 'b', JSON.stringify({ s: 301, e: [['token', '{"i":300}'], ['token', 'two\nlines é']], f: 0 })])
    await client.sendCommand(['XADD', `${prefix}{r}:s`, '303-0', 'e', 'token', 'd', '{"i":302}'])
    await client.sendCommand(['XADD', `${prefix}{r}:s`, '304-0', 'e', 'stream_end', 'd', '{}'])
    expect(await log.read('r', 299, 10)).toEqual([
      { seq: 300, event: 'token', data: '{"i":299}' },
      { seq: 301, event: 'token', data: '{"i":300}' },
      { seq: 302, event: 'token', data: 'two\nlines é' },
      { seq: 303, event: 'token', data: '{"i":302}' },
      { seq: 304, event: 'stream_end', data: '{}' },
    ])
  })

  it('reads back and hears live exactly the data it was given: mixed events, line breaks, non-ASCII, surrogate pairs, empty data', async () => {
    const client = createClient({ url: redisUrl() })
    await client.connect()
    cleanups.push(() => client.close())
    const prefix = `x${Math.random().toString(36).slice(2, 9)}:`
    const log = redisRunLog({ redis: fromNodeRedis(client), prefix })
    cleanups.push(() => log.close())
    const heard: LiveBatch[] = []
    await log.create({ runId: 'r', sessionId: 's', owner: 'o', leaseMs: 10_000 })
    const unfollow = await log.follow('r', (batch) => heard.push(batch))
    cleanups.push(async () => unfollow())
    const tricky = ['', 'plain', 'é ü 中文', '😀 a pair', 'a\nb\r\nc', '"quoted" \\ back', '\n', '[1,"x"]\n{"a":1}']
    const first = tricky.map((data, i) => ({ event: i % 3 ? 'token' : 'tool\nname é', data }))
    const same = tricky.map((data) => ({ event: 'token', data }))
    await log.append('r', { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }, first, false)
    await log.append('r', { owner: 'o', expectedSeq: first.length, leaseMs: 10_000 }, same, false)
    await log.endRun('r', { event: 'stream_end', data: '{"why":"é\n"}' }, 'running')
    const expected = [...first, ...same, { event: 'stream_end', data: '{"why":"é\n"}' }].map((entry, i) => ({ seq: i + 1, ...entry }))
    expect(await log.read('r', 0, 100)).toEqual(expected)
    // Every window, cut inside a batch or not.
    for (let after = 0; after < expected.length; after++) expect(await log.read('r', after, 3)).toEqual(expected.slice(after, after + 3))
    await waitFor(() => heard.some((batch) => batch.ended), 'the end, live')
    expect(heard.flatMap((batch) => batch.entries)).toEqual(expected)
    expect(heard.map((batch) => batch.ended)).toEqual([false, false, true])
  })
})
