/**
 * `npm run bench`, the server path: run-relay/server over a real redis-server against
 * resumable-stream 2.2.13 (the AI SDK's resumable store) doing the same work, side by side,
 * alternating which goes first each round; medians over BENCH_ROUNDS (default 5) and the range.
 * Two "instances" in one process: A writes (its own Redis connections), B reads (its own).
 * Both sides stream SSE: run-relay its reference frames, resumable-stream `data:` frames, as the
 * AI SDK hands them to it; one reader counts `data:` lines on both.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { createClient, createCluster } from 'redis'
import { createResumableStreamContext } from 'resumable-stream/redis'
import { createRunHost, fromNodeRedis, redisRunLog, referenceFormat, type RunHost } from '../server/index.ts'
import { startRedisCluster } from '../test-node/redis-cluster.ts'
import { redisServerPath, startRedis, NO_REDIS_SERVER } from '../test-node/redis-server.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const RATE = 2000
const LATENCY_EVENTS = 4000
const REPLAY_EVENTS = 10_000
const FLOOD_EVENTS = 20_000
const progress = (what: string) => process.stderr.write(`bench (server): ${what}\n`)
const now = () => performance.timeOrigin + performance.now()
const sorted = (values: number[]) => [...values].sort((a, b) => a - b)
const percentile = (values: number[], p: number) => sorted(values)[Math.min(values.length - 1, Math.floor(values.length * p))]!
const median = (values: number[]) => percentile(values, 0.5)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Emits `count` events at `rate` per second (as many per tick as the rate allows), each with its send time. */
async function paced(count: number, rate: number, emit: (at: number) => void): Promise<void> {
  const began = performance.now()
  for (let sent = 0; sent < count; ) {
    const due = Math.min(count, Math.floor(((performance.now() - began) * rate) / 1000) + 1)
    for (; sent < due; sent++) emit(now())
    await sleep(1)
  }
}

/** Reads a body to its end (or `count` data lines), calling `onData` with each data line and the time it arrived. */
async function readLines(stream: ReadableStream<Uint8Array | string>, count: number, onData: (line: string, at: number) => void): Promise<number> {
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  let seen = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return seen
    const at = now()
    buffered += typeof value === 'string' ? value : decoder.decode(value, { stream: true })
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      if (!line.startsWith('data: {')) continue
      const data = line.slice(6)
      onData(data, at)
      if (++seen >= count) {
        await reader.cancel()
        return seen
      }
    }
  }
}

/** One chunk as the AI SDK hands it to resumable-stream (`consumeSseStream`: the UI message stream's SSE text). */
const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`


type Client = { close(): Promise<unknown> }
/** A Redis deployment both sides run on: standalone, or a cluster (3 masters, each with a replica). */
interface Backend {
  name: string
  /** A node's URL. */
  url: string
  /** A connected client: `createClient`, or `createCluster` for the cluster. */
  client(): Promise<Client>
  usedMemory(): Promise<number>
  stop(): Promise<void>
}

const clients: Client[] = []
async function standalone(): Promise<Backend> {
  const path = redisServerPath()
  if (!path) throw new Error(NO_REDIS_SERVER)
  const redis = await startRedis(path)
  const admin = createClient({ url: redis.url })
  await admin.connect()
  return {
    name: 'standalone Redis',
    url: redis.url,
    async client() {
      const made = createClient({ url: redis.url })
      await made.connect()
      clients.push(made)
      return made
    },
    usedMemory: async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]),
    async stop() {
      await admin.close()
      await redis.stop()
    },
  }
}

async function cluster(): Promise<Backend> {
  const started = await startRedisCluster(3, 1)
  return {
    name: 'Redis Cluster (3 masters, 3 replicas)',
    url: started.url,
    async client() {
      const made = createCluster({ rootNodes: [{ url: started.url }] }).on('error', () => {})
      await made.connect()
      clients.push(made)
      return made
    },
    async usedMemory() {
      let total = 0
      for (const port of started.ports) if ((await started.cli(port, 'ROLE')).startsWith('master')) total += Number(/used_memory:(\d+)/.exec(await started.cli(port, 'INFO', 'memory'))![1])
      return total
    },
    stop: () => started.stop(),
  }
}

interface Side {
  latency(): Promise<number[]>
  replay(): Promise<number>
  flood(): Promise<number>
  close(): Promise<void>
}

let session = 0
/** run-relay/server: instance A produces, instance B streams. */
async function relaySide(backend: Backend): Promise<Side & { hostA: RunHost; hostB: RunHost }> {
  const prefix = `bench${Date.now()}:`
  const hostA: RunHost = createRunHost({ log: redisRunLog({ redis: fromNodeRedis((await backend.client()) as never), prefix }), heartbeatMs: 60_000 })
  const hostB: RunHost = createRunHost({ log: redisRunLog({ redis: fromNodeRedis((await backend.client()) as never), prefix }), heartbeatMs: 60_000 })
  async function relayLatency(): Promise<number[]> {
    const latencies: number[] = []
    let go!: () => void
    const attached = new Promise<void>((resolve) => (go = resolve))
    const started = await hostA.start(`s${session++}`, async (run) => {
      await attached // the reader on B attaches first
      await paced(LATENCY_EVENTS, RATE, (at) => run.emit('token', { at }))
    })
    if (!started.ok) throw new Error('not started')
    const reading = readLines(hostB.stream(started.runId, 0, referenceFormat), LATENCY_EVENTS, (line, at) => latencies.push(at - (JSON.parse(line) as { at: number }).at))
    await sleep(20)
    go()
    await reading
    return latencies
  }

  async function relayReplay(): Promise<number> {
    const result = await hostA.start(`s${session++}`, (run) => {
      for (let i = 0; i < REPLAY_EVENTS; i++) run.emit('token', { at: 0, i })
    })
    if (!result.ok) throw new Error('not started')
    while (!(await hostB.log.record(result.runId))?.ended) await sleep(5)
    const began = performance.now()
    const count = await readLines(hostB.stream(result.runId, 0, referenceFormat), REPLAY_EVENTS, () => {})
    return (count / (performance.now() - began)) * 1000
  }

  /** Producer to a reader on the other instance, as fast as it goes: events/s. */
  async function relayFlood(): Promise<number> {
    let runId = ''
    let began = 0
    const result = await hostA.start(`s${session++}`, async (run) => {
      await sleep(20)
      began = performance.now()
      for (let i = 0; i < FLOOD_EVENTS; i += 100) {
        for (let j = 0; j < 100; j++) run.emit('token', { at: 0 })
        await sleep(0)
      }
    })
    if (!result.ok) throw new Error('not started')
    runId = result.runId
    await readLines(hostB.stream(runId, 0, referenceFormat), FLOOD_EVENTS, () => {})
    return (FLOOD_EVENTS / (performance.now() - began)) * 1000
  }
  return {
    hostA,
    hostB,
    latency: relayLatency,
    replay: relayReplay,
    flood: relayFlood,
    async close() {
      await hostA.close()
      await hostB.close()
    },
  }
}

/** resumable-stream: context A runs the source, context B resumes it (its chunks travel by pub/sub from A's memory). */
async function rsSide(backend: Backend): Promise<Side> {
  const rsPrefix = `rs${Date.now()}`
  const contextOf = async () => createResumableStreamContext({ waitUntil: null, keyPrefix: rsPrefix, publisher: (await backend.client()) as never, subscriber: (await backend.client()) as never })
  const rsA = await contextOf()
  const rsB = await contextOf()
  let rsId = 0
  /** Sources still running: resumable-stream writes to Redis after a source closes, so the clients close after them. */
  const sourcesRunning: Promise<void>[] = []
  const tracked = (stream: ReadableStream<string>, done: Promise<void>) => (sourcesRunning.push(done), stream)

  /** A source stream the resumable-stream producer runs: `count` chunks, paced or as fast as possible, then closes after `holdMs`. */
  function source(count: number, rate: number | undefined, holdMs: number): ReadableStream<string> {
    let closed!: () => void
    const done = new Promise<void>((resolve) => (closed = resolve))
    return tracked(
      new ReadableStream<string>({
        async start(controller) {
          if (rate) await paced(count, rate, (at) => controller.enqueue(sse({ at })))
          else for (let i = 0; i < count; i++) controller.enqueue(sse({ at: now() }))
          await sleep(holdMs)
          controller.close()
          closed()
        },
      }),
      done,
    )
  }

  async function rsLatency(): Promise<number[]> {
    const id = `rs-lat-${rsId++}`
    const latencies: number[] = []
    const produced = await rsA.resumableStream(id, () => source(LATENCY_EVENTS, RATE, 100))
    const draining = readLines(produced!, LATENCY_EVENTS, () => {}) // the producer's own response
    const resumed = await rsB.resumeExistingStream(id)
    if (!resumed) throw new Error('resumable-stream: resumeExistingStream returned nothing')
    await readLines(resumed, LATENCY_EVENTS, (line, at) => latencies.push(at - (JSON.parse(line) as { at: number }).at))
    await draining
    return latencies
  }

  /** resumable-stream cannot replay a finished stream (it returns null), so: a running one, from its first chunk. */
  async function rsReplay(): Promise<number> {
    const id = `rs-replay-${rsId++}`
    const produced = await rsA.resumableStream(id, () => source(REPLAY_EVENTS, undefined, 1500))
    const draining = readLines(produced!, REPLAY_EVENTS, () => {})
    await draining
    const began = performance.now()
    const resumed = await rsB.resumeExistingStream(id)
    const count = await readLines(resumed!, REPLAY_EVENTS, () => {})
    return (count / (performance.now() - began)) * 1000
  }

  async function rsFlood(): Promise<number> {
    const id = `rs-flood-${rsId++}`
    let began = 0
    const produced = await rsA.resumableStream(id, () => {
      let closed!: () => void
      const done = new Promise<void>((resolve) => (closed = resolve))
      const stream = new ReadableStream<string>({
        async start(controller) {
          await sleep(20)
          began = performance.now()
          for (let i = 0; i < FLOOD_EVENTS; i += 100) {
            for (let j = 0; j < 100; j++) controller.enqueue(sse({ at: 0 }))
            await sleep(0)
          }
          await sleep(500)
          controller.close()
          closed()
        },
      })
      return tracked(stream, done)
    })
    const draining = readLines(produced!, FLOOD_EVENTS, () => {})
    const resumed = await rsB.resumeExistingStream(id)
    await readLines(resumed!, FLOOD_EVENTS, () => {})
    await draining
    return (FLOOD_EVENTS / (performance.now() - began)) * 1000
  }
  return {
    latency: rsLatency,
    replay: rsReplay,
    flood: rsFlood,
    async close() {
      await Promise.all(sourcesRunning)
      await sleep(300) // resumable-stream's own end writes (its DONE sentinel) after the last source closed
    },
  }
}

/** Raw appends to the Redis log, `batch` entries per fenced script call: events/s. */
async function appends(host: RunHost, batch: number, total: number): Promise<number> {
  const log = host.log
  const runId = `bench-append-${batch}-${session++}`
  await log.create({ runId, sessionId: `append-${runId}`, owner: 'bench', leaseMs: 60_000 })
  const entries = Array.from({ length: batch }, () => ({ event: 'token', data: '{"text":"word "}' }))
  const began = performance.now()
  for (let seq = 0; seq < total; seq += batch) await log.append(runId, { owner: 'bench', expectedSeq: seq, leaseMs: 60_000 }, entries, false)
  return (total / (performance.now() - began)) * 1000
}

const MANY_RUNS = Number(process.env.BENCH_MANY_RUNS ?? 10_000)
const MANY_EVENTS = 10
const MANY_EVERY_MS = Number(process.env.BENCH_MANY_EVERY_MS ?? 2000)
/** A longer lease than the default 2.5 s: each run's idle cost (renewals, readers' checks) is per run, see the row's note. */
const MANY_LEASE_MS = Number(process.env.BENCH_MANY_LEASE_MS ?? 10_000)
type ToProducer = { go: true } | { heap: true }
type FromProducer = { runIds: string[] } | { heap: number } | { done: true }

/** Instance A of the many-runs row: a thread of its own (its own event loop, as another process would have). */
async function manyProducer({ url, prefix, runs, before }: { url: string; prefix: string; runs: number; before: number }): Promise<void> {
  const port = parentPort!
  const client = createClient({ url })
  await client.connect()
  const host = createRunHost({ log: redisRunLog({ redis: fromNodeRedis(client), prefix }), leaseMs: MANY_LEASE_MS })
  let release!: () => void
  const go = new Promise<void>((resolve) => (release = resolve))
  const running: Promise<void>[] = []
  const runIds: string[] = []
  globalThis.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  for (let i = 0; i < runs; i += 500) {
    const started = await Promise.all(Array.from({ length: Math.min(500, runs - i) }, (_, n) => {
      let finished!: () => void
      running.push(new Promise<void>((resolve) => (finished = resolve)))
      return host.start(`many${i + n}`, async (run) => {
        await go
        await sleep(Math.random() * MANY_EVERY_MS) // spread over the interval
        for (let e = 0; e < MANY_EVENTS && !run.signal.aborted; e++) {
          run.emit('token', { at: now() })
          await sleep(MANY_EVERY_MS)
        }
        finished()
      })
    }))
    for (const result of started) if (result.ok) runIds.push(result.runId)
  }
  port.postMessage({ runIds } satisfies FromProducer)
  port.on('message', (message: ToProducer) => {
    if ('go' in message) release()
    if ('heap' in message) port.postMessage({ heap: process.memoryUsage().heapUsed - heapBefore } satisfies FromProducer)
  })
  await Promise.allSettled(running)
  await host.close()
  await client.close()
  port.postMessage({ done: true } satisfies FromProducer)
  port.close()
}

/**
 * `MANY_RUNS` runs at once on instance A (a thread of its own), each followed by a reader on
 * instance B (this thread), each emitting `MANY_EVENTS` events `MANY_EVERY_MS` apart (5,000
 * events/s in all at the defaults). Measured halfway, with every run live: Redis memory per run and both
 * instances' heap per run; over every event, the live latency; at the end, how many readers got
 * every event (a run ended early, its producer judged gone, is counted, not thrown).
 */
async function manyRuns(backend: Backend): Promise<{ redisBytes: number; heapBytes: number; p50: number; p99: number; whole: number; failed: string[] }> {
  const prefix = `many${Date.now()}:`
  const client = await backend.client()
  const hostB = createRunHost({ log: redisRunLog({ redis: fromNodeRedis(client as never), prefix }), leaseMs: MANY_LEASE_MS })
  const memoryBefore = await backend.usedMemory()
  globalThis.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const producer = new Worker(new URL(import.meta.url), { workerData: { manyProducer: { url: backend.url, prefix, runs: MANY_RUNS, before: 0 } }, execArgv: process.execArgv })
  const messages: FromProducer[] = []
  let arrived: (() => void) | undefined
  producer.on('message', (message: FromProducer) => (messages.push(message), arrived?.()))
  const next = async <K extends string>(key: K): Promise<Extract<FromProducer, Record<K, unknown>>> => {
    for (;;) {
      const at = messages.findIndex((message) => key in message)
      if (at >= 0) return messages.splice(at, 1)[0] as Extract<FromProducer, Record<K, unknown>>
      await new Promise<void>((resolve) => (arrived = resolve))
    }
  }
  const { runIds } = await next('runIds')
  const latencies: number[] = []
  let whole = 0
  const failed: string[] = []
  const reading = runIds.map((runId) =>
    readLines(hostB.stream(runId, 0, referenceFormat), MANY_EVENTS, (line, at) => latencies.push(at - (JSON.parse(line) as { at: number }).at)).then(
      (count) => void (count === MANY_EVENTS ? whole++ : failed.push(`${runId}: ${count} events`)),
      (error: unknown) => void failed.push(`${runId}: ${String(error)}`),
    ),
  )
  await sleep(1000) // the readers attach
  producer.postMessage({ go: true } satisfies ToProducer)
  await sleep((MANY_EVENTS * MANY_EVERY_MS) / 2) // halfway: every run is live
  globalThis.gc?.()
  const redisBytes = (await backend.usedMemory()) - memoryBefore
  const heapB = process.memoryUsage().heapUsed - heapBefore
  producer.postMessage({ heap: true } satisfies ToProducer)
  const { heap: heapA } = await next('heap')
  await Promise.all(reading)
  await next('done')
  await hostB.close()
  return { redisBytes: redisBytes / runIds.length, heapBytes: (heapA + heapB) / runIds.length, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), whole, failed }
}

type Series = Record<string, number[]>
const range = (values: number[], digits: number) => `[${sorted(values)[0]!.toFixed(digits)}–${sorted(values).at(-1)!.toFixed(digits)}]`
const cell = (values: number[] | undefined, digits: number) => (values?.length ? `${median(values).toFixed(digits)} ${range(values, digits)}` : '')
const results: Array<{ what: string; relay: string; rs: string; note: string }> = []

async function measure(backend: Backend, extras: boolean): Promise<void> {
  const relaySideOf = await relaySide(backend)
  const sides: Record<'relay' | 'rs', Side> = { relay: relaySideOf, rs: await rsSide(backend) }
  const relay: Series = { p50: [], p99: [], replay: [], flood: [], batched: [], unbatched: [] }
  const rs: Series = { p50: [], p99: [], replay: [], flood: [] }
  try {
    // Each side runs every measure once first (both sides alike), so no round pays for a cold JIT:
    // a first replay here took 6–9× a warm one.
    progress(`${backend.name}: warm-up`)
    for (const side of [sides.relay, sides.rs]) {
      await side.latency()
      await side.replay()
      await side.flood()
    }
    for (let round = 0; round < ROUNDS; round++) {
      progress(`${backend.name}: round ${round + 1} of ${ROUNDS}`)
      for (const side of round % 2 ? (['rs', 'relay'] as const) : (['relay', 'rs'] as const)) {
        const into = side === 'relay' ? relay : rs
        const lat = await sides[side].latency()
        into.p50!.push(percentile(lat, 0.5))
        into.p99!.push(percentile(lat, 0.99))
        into.replay!.push(await sides[side].replay())
        into.flood!.push(await sides[side].flood())
      }
      if (extras) {
        relay.batched!.push(await appends(relaySideOf.hostA, 32, 20_000))
        relay.unbatched!.push(await appends(relaySideOf.hostA, 1, 3_000))
      }
    }
    const on = `, ${backend.name}`
    results.push(
      { what: `writer → Redis → instance B → reader, 2,000 events/s, p50 (ms)${on}`, relay: cell(relay.p50, 2), rs: cell(rs.p50, 2), note: '' },
      { what: `same, p99 (ms)${on}`, relay: cell(relay.p99, 2), rs: cell(rs.p99, 2), note: '' },
      { what: `replay of 10,000 events on instance B (events/s)${on}`, relay: cell(relay.replay, 0), rs: cell(rs.replay, 0), note: 'resumable-stream: a running stream from its first chunk, sent from the producer\'s memory (it cannot replay a finished one)' },
      { what: `producer on A → reader on B, 20,000 events flat out (events/s)${on}`, relay: cell(relay.flood, 0), rs: cell(rs.flood, 0), note: '' },
    )
    if (extras) {
      results.push(
        { what: `appends, 32 per fenced script call (events/s)${on}`, relay: cell(relay.batched, 0), rs: '', note: 'resumable-stream appends nothing to Redis (chunks stay in the producer)' },
        { what: `appends, one script call per event (events/s)${on}`, relay: cell(relay.unbatched, 0), rs: '', note: '' },
      )
      if (MANY_RUNS > 0) {
        progress(`${backend.name}: ${MANY_RUNS} concurrent runs`)
        const many = await manyRuns(backend)
        for (const failure of many.failed.slice(0, 5)) progress(`  not whole: ${failure}`)
        results.push({
          what: `${MANY_RUNS.toLocaleString('en')} concurrent runs on A, a reader each on B, an event every ${MANY_EVERY_MS / 1000} s each (lease ${MANY_LEASE_MS / 1000} s)${on}`,
          relay: `Redis ${(many.redisBytes / 1024).toFixed(1)} KB/run, heap ${(many.heapBytes / 1024).toFixed(1)} KB/run; live p50 ${many.p50.toFixed(1)} ms, p99 ${many.p99.toFixed(1)} ms; ${many.whole} of ${MANY_RUNS} whole`,
          rs: '',
          note: 'one round; A in a thread of its own; heap: both instances',
        })
      }
    }
  } finally {
    await sides.rs.close()
    await sides.relay.close()
  }
}

const backends = (process.env.BENCH_REDIS ?? 'standalone,cluster').split(',')
if (!isMainThread) await manyProducer((workerData as { manyProducer: Parameters<typeof manyProducer>[0] }).manyProducer)
else try {
  for (const which of backends) {
    const backend = which === 'cluster' ? await cluster() : await standalone()
    try {
      await measure(backend, which === 'standalone')
    } finally {
      for (const made of clients.splice(0)) await made.close().catch(() => {})
      await backend.stop()
    }
  }
} finally {
  console.log(`\nrun-relay/server vs resumable-stream 2.2.13, redis-server on localhost, medians of ${ROUNDS} rounds [range]\n`)
  console.table(results.map(({ what, relay, rs, note }) => ({ what, 'run-relay/server (Redis Streams)': relay, 'resumable-stream': rs, note })))
}
