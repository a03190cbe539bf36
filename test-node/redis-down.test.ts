import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunServer, fromNodeRedis, redisRunLog } from '../server/index.ts'
import { tokenRun } from './generators.ts'
import { redisUrl } from './redis-client.ts'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort, redisServerPath, startRedis, type RedisProcess } from './redis-server.ts'
import { readSse, seqOf, type SseEvent } from './sse-client.ts'
import { serve } from './serve.ts'

/** What each test started (Redis, clients, servers), stopped in reverse order after it. */
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

/** A Redis of its own, stopped mid-run. */
describe('Redis goes away mid-run', () => {
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

/**
 * Redis behind a TCP proxy that can cut the network: every connection reset, new ones refused,
 * until `restore()`; Redis keeps its data, as in a partition or a failover's switch.
 */
async function partitionable(target: number): Promise<{ url: string; cut(): void; restore(): Promise<void>; close(): Promise<void> }> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const listen = () => new Promise<void>((resolve) => {
    server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1')
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => sockets.delete(socket))
      }
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    }).listen(port, '127.0.0.1', () => resolve())
  })
  await listen()
  const cut = () => {
    server?.close()
    for (const socket of sockets) socket.resetAndDestroy()
  }
  return { url: `redis://127.0.0.1:${port}`, cut, restore: listen, close: async () => cut() }
}

/** Two instances (each its own clients) on one Redis that is out of reach for 30 s mid-run. */
describe('a 30 s Redis outage mid-run', () => {
  it('the producer holds its events and keeps its run; a reader on the other instance resumes, and the run ends whole, with no apperror', async () => {
    redisUrl() // fails loudly without redis-server
    const redis: RedisProcess = await startRedis(redisServerPath()!)
    const network = await partitionable(redis.port)
    cleanups.push(() => redis.stop(), () => network.close())
    const instance = async () => {
      const client = createClient({ url: network.url }).on('error', () => {})
      const app = createRunServer({ log: redisRunLog({ redis: fromNodeRedis(client, { onSubscriberError: () => {} }) }), generate: tokenRun })
      const http = await serve(app.fetch)
      cleanups.push(() => http.close(), async () => client.destroy())
      return http.url
    }
    const [a, b] = [await instance(), await instance()]
    const tokens = 900
    const started = (await (await fetch(`${a}/api/chat/start`, { method: 'POST', body: JSON.stringify({ session_id: 'outage', message: 'm', tokens, rate: 20 }) })).json()) as { stream_id: string }
    // A reader as the hub is one: it resumes from its cursor after every cut, and after a 503's Retry-After.
    const events: SseEvent[] = []
    const statuses: number[] = []
    let pausedAt = 0
    const deadline = Date.now() + 120_000
    while (events.at(-1)?.event !== 'stream_end') {
      if (Date.now() > deadline) throw new Error(`no end after 120 s: ${events.length} events, statuses ${statuses.join(' ')}`)
      if (events.at(-1)?.event === 'apperror') break
      const read = await readSse(`${b}/api/chat/stream?stream_id=${started.stream_id}&after_seq=${events.length}`, {
        timeoutMs: 60_000,
        stopWhen: (seen) => {
          if (pausedAt === 0 && events.length + seen.length >= 20) {
            pausedAt = Date.now()
            network.cut()
            setTimeout(() => void network.restore(), 30_000)
          }
          return false
        },
      }).catch(() => undefined) // a request that failed while Redis was away
      statuses.push(read?.status ?? 0)
      events.push(...(read?.events ?? []).filter((e) => e.event !== undefined))
      if (!read || read.status !== 200) await new Promise((resolve) => setTimeout(resolve, 1000)) // Retry-After: 1
    }
    expect(pausedAt, 'Redis was cut off mid-run').toBeGreaterThan(0)
    expect(events.map(seqOf)).toEqual(events.map((_, i) => i + 1))
    expect(events.filter((e) => e.event === 'apperror')).toEqual([])
    expect(events.filter((e) => e.event === 'token')).toHaveLength(tokens)
    expect(events.at(-1)!.event).toBe('stream_end')
    // While Redis was away, the reader's requests were cut or answered 503, never a 500.
    expect(statuses.filter((status) => status !== 200 && status !== 503 && status !== 0)).toEqual([])
  }, 150_000)
})
