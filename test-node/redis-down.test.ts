import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunServer, fromNodeRedis, redisRunLog } from '../server/index.ts'
import { tokenRun } from './generators.ts'
import { redisUrl } from './redis-client.ts'
import { redisServerPath, startRedis, type RedisProcess } from './redis-server.ts'
import { readSse, seqOf } from './sse-client.ts'
import { serve } from './serve.ts'

/** A Redis of its own, stopped mid-run. */
describe('Redis goes away mid-run', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
  })

  it("a reader's response ends within the log timeout (the client resumes from its cursor), and no connection error crashes the process", async () => {
    redisUrl() // fails loudly without redis-server
    const redis: RedisProcess = await startRedis(redisServerPath()!)
    // node-redis's defaults: it reconnects, and queues commands meanwhile (a call made while Redis is away waits).
    const client = createClient({ url: redis.url })
    client.on('error', () => {}) // the command client is the app's: it handles its own errors
    await client.connect()
    const app = createRunServer({ log: redisRunLog({ redis: fromNodeRedis(client) }), generate: tokenRun, leaseMs: 1000, logTimeoutMs: 1000 })
    const http = await serve(app.fetch)
    cleanups.push(() => redis.stop(), async () => client.destroy(), () => http.close())
    const started = (await (await fetch(`${http.url}/api/chat/start`, { method: 'POST', body: JSON.stringify({ session_id: 's', message: 'm', tokens: 100_000, rate: 200 }) })).json()) as { stream_id: string }
    let stoppedAt = 0
    const stopRedis = () => {
      stoppedAt = performance.now()
      void redis.stop()
      return false // keep reading
    }
    const read = await readSse(`${http.url}/api/chat/stream?stream_id=${started.stream_id}&after_seq=0`, { stopWhen: (events) => events.length >= 10 && stoppedAt === 0 && stopRedis(), timeoutMs: 10_000 })
    expect(read.ended).toBe(true)
    expect(performance.now() - stoppedAt).toBeLessThan(4000) // abandonCheckMs (500) + logTimeoutMs (1000), with slack for load
    expect(read.events.length).toBeGreaterThanOrEqual(10)
    expect(read.events.map(seqOf)).toEqual(read.events.map((_, i) => i + 1))
    // The subscriber connection the adapter opened saw its socket close too: without its error listener, an unhandled 'error' fails this file.
  })
})
