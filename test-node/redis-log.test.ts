import { createHash } from 'node:crypto'
import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { fromNodeRedis, redisRunLog, type RedisConnection } from '../server/index.ts'
import { RECORD } from '../server/redis-scripts.ts'
import { redisUrl } from './redis-client.ts'

/** What the Redis log keeps in process memory, on a real redis-server (its contract is run-log.contract.ts). */
describe('redisRunLog', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it("forgets an ended run's session (a final append, an endRun), followed or not: no entry per run kept for ever", async () => {
    const client = createClient({ url: redisUrl() })
    await client.connect()
    cleanups.push(() => client.close())
    const inner = fromNodeRedis(client)
    // The session of a run it no longer remembers is read from Redis by the record script: count those.
    const recordSha = createHash('sha1').update(RECORD).digest('hex')
    let recordReads = 0
    const counting: RedisConnection = { ...inner, send: (args) => (args[0] === 'EVALSHA' && args[1] === recordSha && recordReads++, inner.send(args)) }
    const log = redisRunLog({ redis: counting, prefix: `m${Math.random().toString(36).slice(2, 9)}:` })
    cleanups.push(() => log.close())
    const lease = { owner: 'o', expectedSeq: 0, leaseMs: 10_000 }

    await log.create({ runId: 'ended', sessionId: 's1', owner: 'o', leaseMs: 10_000 })
    await log.append('ended', lease, [{ event: 'token', data: '{}' }], false)
    expect(recordReads).toBe(0) // remembered while it runs
    await log.append('ended', { ...lease, expectedSeq: 1 }, [{ event: 'stream_end', data: '{}' }], true)
    expect(await log.renew('ended', 'o', 10_000)).toBe(false)
    expect(recordReads).toBe(1)

    await log.create({ runId: 'cancelled', sessionId: 's2', owner: 'o', leaseMs: 10_000 })
    expect((await log.endRun('cancelled', { event: 'cancel', data: '{}' }, 'running')).ok).toBe(true)
    expect(await log.renew('cancelled', 'o', 10_000)).toBe(false)
    expect(recordReads).toBe(2)
  })
})
