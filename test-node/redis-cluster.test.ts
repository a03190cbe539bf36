import { createCluster } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunServer, fromIoredis, fromNodeRedis, redisRunLog, type RunLog } from '../server/index.ts'
import { tokenRun } from './generators.ts'
import { startRedisCluster, type RedisCluster } from './redis-cluster.ts'
import { runLogContract } from './run-log.contract.ts'
import { serve } from './serve.ts'
import { readSse, seqOf, type SseEvent } from './sse-client.ts'

/**
 * run-relay/server on a real Redis Cluster (3 masters, each with a replica), through
 * `fromNodeRedis(createCluster(…))`: the log's contract, two instances across slots, and failovers.
 */
let cluster: RedisCluster
beforeAll(async () => {
  cluster = await startRedisCluster(3, 1)
}, 60_000)
afterAll(async () => cluster?.stop())

const clients: Array<{ close(): Promise<unknown> }> = []
afterAll(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => {})
})

/** A cluster client as a user makes one (with an error listener), not connected: fromNodeRedis connects it on first use. */
function clusterClient() {
  const client = createCluster({ rootNodes: [{ url: cluster.url }] }).on('error', () => {})
  clients.push(client)
  return client
}

async function openClusterLog(options: { retainMs?: number } = {}): Promise<RunLog> {
  return redisRunLog({ redis: fromNodeRedis(clusterClient()), prefix: `k${Math.random().toString(36).slice(2, 9)}:`, retainMs: options.retainMs })
}

runLogContract('Redis Cluster (node-redis 6 createCluster, 3 masters with replicas, sharded pub/sub)', openClusterLog)
runLogContract('Redis Cluster (ioredis 6 Cluster, shardedSubscribers)', async (options = {}) => {
  const { Cluster } = await import('ioredis')
  const [host, port] = cluster.url.slice('redis://'.length).split(':')
  const client = new Cluster([{ host: host!, port: Number(port) }], { shardedSubscribers: true })
  client.on('error', () => {})
  clients.push({ close: () => client.quit() })
  return redisRunLog({ redis: fromIoredis(client), prefix: `io${Math.random().toString(36).slice(2, 9)}:`, retainMs: options.retainMs })
})

describe('adapters', () => {
  it('refuse a client they cannot use with a TypeError that says what to pass', async () => {
    const { Cluster } = await import('ioredis')
    const [host, port] = cluster.url.slice('redis://'.length).split(':')
    const plain = new Cluster([{ host: host!, port: Number(port) }], { lazyConnect: true })
    expect(() => fromIoredis(plain)).toThrow(/shardedSubscribers: true/)
    expect(() => fromNodeRedis({} as never)).toThrow(TypeError)
    expect(() => fromNodeRedis({} as never)).toThrow(/createClient\) or cluster \(createCluster\)/)
    expect(() => fromIoredis({} as never)).toThrow(/new Redis\(\)\) or Cluster/)
  })
})

/**
 * Reads a run to its end as the hub does: it resumes from its cursor after every cut or 503,
 * pausing `pauseMs` after a failed read. `at40` runs once, when the 40th event arrives.
 */
async function readResuming(url: string, at40: () => void, pauseMs: number): Promise<SseEvent[]> {
  const events: SseEvent[] = []
  let fired = false
  const deadline = Date.now() + 60_000
  while (!['stream_end', 'apperror', 'cancel'].includes(events.at(-1)?.event ?? '')) {
    if (Date.now() > deadline) throw new Error(`no end within 60 s after ${events.length} events`)
    const read = await readSse(`${url}&after_seq=${events.length}`, {
      timeoutMs: 30_000,
      stopWhen: (seen) => {
        if (!fired && events.length + seen.length >= 40) {
          fired = true
          at40()
        }
        return false
      },
    }).catch(() => undefined)
    events.push(...(read?.events ?? []).filter((e) => e.event !== undefined))
    if (!read || read.status !== 200) await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
  return events
}

describe('two instances on a Redis Cluster', () => {
  async function instance(prefix: string) {
    const app = createRunServer({ log: redisRunLog({ redis: fromNodeRedis(clusterClient()), prefix }), generate: tokenRun })
    const http = await serve(app.fetch)
    return { url: http.url, close: () => http.close() }
  }
  const start = async (url: string, body: object) => ((await (await fetch(`${url}/api/chat/start`, { method: 'POST', body: JSON.stringify({ message: 'm', ...body }) })).json()) as { stream_id: string }).stream_id

  it('20 runs in 20 sessions, spread over the slots: started on A, read whole on B, live', async () => {
    const prefix = `two${Math.random().toString(36).slice(2, 7)}:`
    const [a, b] = [await instance(prefix), await instance(prefix)]
    try {
      const runIds = await Promise.all(Array.from({ length: 20 }, (_, i) => start(a.url, { session_id: `session-${i}`, tokens: 50, rate: 100 })))
      const masters = new Set(await Promise.all(runIds.map(async (runId) => (await cluster.nodesOf(`{${runId}}`)).master)))
      expect(masters.size, 'runs on more than one shard').toBeGreaterThan(1)
      const reads = await Promise.all(runIds.map((runId) => readSse(`${b.url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { timeoutMs: 20_000 })))
      for (const read of reads) {
        expect(read.ended).toBe(true)
        expect(read.events.map(seqOf)).toEqual(read.events.map((_, i) => i + 1))
        expect(read.events.filter((e) => e.event === 'token')).toHaveLength(50)
        expect(read.events.at(-1)!.event).toBe('stream_end')
      }
      // The session is free again on every shard: a second turn starts.
      expect(await start(b.url, { session_id: 'session-0', tokens: 1 })).toBeTruthy()
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('1,000 concurrent runs over two instances: each started on one and read on the other, whole', async () => {
    const prefix = `k1000${Math.random().toString(36).slice(2, 7)}:`
    const [a, b] = [await instance(prefix), await instance(prefix)]
    try {
      const started = await Promise.all(Array.from({ length: 1000 }, (_, i) => start(i % 2 ? a.url : b.url, { session_id: `many-${i}`, tokens: 20, rate: 20 }).then((runId) => ({ runId, reader: i % 2 ? b.url : a.url }))))
      const reads = await Promise.all(started.map(({ runId, reader }) => readSse(`${reader}/api/chat/stream?stream_id=${runId}&after_seq=0`, { timeoutMs: 90_000 })))
      const whole = reads.filter((read) => read.ended && read.events.at(-1)?.event === 'stream_end' && read.events.filter((e) => e.event === 'token').length === 20 && read.events.every((e, i) => seqOf(e) === i + 1))
      expect(whole.length, 'runs read whole').toBe(1000)
    } finally {
      await a.close()
      await b.close()
    }
  }, 180_000)

  it("a resharding mid-run (the run's slot moved to another master, keys MIGRATEd): the reader ends whole, live on the new shard", async () => {
    const prefix = `rs${Math.random().toString(36).slice(2, 7)}:`
    const [a, b] = [await instance(prefix), await instance(prefix)]
    try {
      const runId = await start(a.url, { session_id: 'reshard', tokens: 400, rate: 50 })
      const { master: source } = await cluster.nodesOf(`{${runId}}`)
      const masters = (await cluster.cli(source, 'CLUSTER', 'NODES')).trim().split('\n').map((line) => line.split(' ')).filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail'))
      const target = Number(masters.find((f) => !f[1]!.startsWith(`127.0.0.1:${source}@`))![1]!.split(':')[1]!.split('@')[0])
      const idOf = async (port: number) => (await cluster.cli(port, 'CLUSTER', 'MYID')).trim()
      const [sourceId, targetId] = [await idOf(source), await idOf(target)]
      const slot = (await cluster.cli(source, 'CLUSTER', 'KEYSLOT', `{${runId}}`)).trim()
      const channel = `${prefix}{${runId}}:live`
      /** The slot moves as `redis-cli --cluster reshard` moves it: IMPORTING, MIGRATING, MIGRATE of its keys, then NODE everywhere. */
      async function reshard(): Promise<void> {
        await cluster.cli(target, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId)
        await cluster.cli(source, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId)
        for (;;) {
          const keys = (await cluster.cli(source, 'CLUSTER', 'GETKEYSINSLOT', slot, '100')).trim().split('\n').filter(Boolean)
          if (keys.length === 0) break
          await cluster.cli(source, 'MIGRATE', '127.0.0.1', String(target), '', '0', '5000', 'KEYS', ...keys)
        }
        for (const port of [target, source, ...masters.map((f) => Number(f[1]!.split(':')[1]!.split('@')[0]))]) await cluster.cli(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', targetId)
        // Redis drops the slot's sharded subscribers on the source (SUNSUBSCRIBE): the client must
        // subscribe again on the target, or the run's live hints stop (the reader would fall back to
        // polling the log) and its producer would not hear a cancel. Both follow the run: 2 subscribers.
        const until = Date.now() + 10_000
        for (;;) {
          const [, count] = (await cluster.cli(target, 'PUBSUB', 'SHARDNUMSUB', channel)).trim().split('\n')
          subscribersOnTarget = Number(count)
          if (subscribersOnTarget >= 2 || Date.now() > until) break
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
      let subscribersOnTarget = 0
      let moved: Promise<void> | undefined
      const events = await readResuming(`${b.url}/api/chat/stream?stream_id=${runId}`, () => void (moved = reshard()), 200)
      await moved
      expect((await cluster.nodesOf(`{${runId}}`)).master).toBe(target)
      // Exactly once, in order, whole: the producer wrote on across the move.
      expect(events.map(seqOf)).toEqual(events.map((_, i) => i + 1))
      expect(events.filter((e) => e.event === 'token')).toHaveLength(400)
      expect(events.at(-1)!.event).toBe('stream_end')
      const again = await readSse(`${a.url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { timeoutMs: 20_000 })
      expect(again.events.filter((e) => e.event !== undefined)).toEqual(events)
      expect(subscribersOnTarget, 'sharded subscribers of the run on its new shard (the reader and the producer)').toBe(2)
    } finally {
      await a.close()
      await b.close()
      await cluster.waitHealthy()
    }
  }, 120_000)

  for (const how of ['CLUSTER FAILOVER on its replica', 'kill -9 of its master'] as const) {
    it(`a failover of the run's shard mid-run (${how}): a resuming reader ends whole or with one typed terminal event; the log never forks`, async () => {
      const prefix = `fo${Math.random().toString(36).slice(2, 7)}:`
      const [a, b] = [await instance(prefix), await instance(prefix)]
      try {
        const runId = await start(a.url, { session_id: `failover-${how.length}`, tokens: 400, rate: 50 })
        const { master, replicas } = await cluster.nodesOf(`{${runId}}`)
        let failedOver = false
        const events = await readResuming(`${b.url}/api/chat/stream?stream_id=${runId}`, () => {
          failedOver = true
          if (how === 'kill -9 of its master') cluster.kill(master)
          else void cluster.cli(replicas[0]!, 'CLUSTER', 'FAILOVER')
        }, 500)
        expect(failedOver).toBe(true)
        // Exactly once, in order: seqs 1..N with no gap or repeat, whatever the ending.
        expect(events.map(seqOf)).toEqual(events.map((_, i) => i + 1))
        const last = events.at(-1)!
        if (last.event === 'stream_end') expect(events.filter((e) => e.event === 'token')).toHaveLength(400)
        else expect(last).toMatchObject({ event: 'apperror' })
        // A second read of the whole log says the same: nothing forked.
        const again = await readSse(`${a.url}/api/chat/stream?stream_id=${runId}&after_seq=0`, { timeoutMs: 20_000 })
        expect(again.events.filter((e) => e.event !== undefined)).toEqual(events)
        console.log(`${how}: the run ended with ${last.event} after ${events.length} events`)
      } finally {
        await a.close()
        await b.close()
        await cluster.waitHealthy()
      }
    }, 120_000)
  }
})
