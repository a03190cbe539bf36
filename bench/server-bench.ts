/**
 * `npm run bench`, the server path: run-relay/server over a real redis-server against
 * resumable-stream 2.2.13 (the AI SDK's resumable store) doing the same work, side by side,
 * alternating which goes first each round; medians over BENCH_ROUNDS (default 5) and the range.
 * Two "instances" in one process: A writes (its own Redis connections), B reads (its own).
 * Both sides stream SSE: run-relay its reference frames, resumable-stream `data:` frames, as the
 * AI SDK hands them to it; one reader counts `data:` lines on both.
 */
import { createClient } from 'redis'
import { createResumableStreamContext } from 'resumable-stream/redis'
import { createRunHost, fromNodeRedis, redisRunLog, referenceFormat, type RunHost } from '../server/index.ts'
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

const path = redisServerPath()
if (!path) throw new Error(NO_REDIS_SERVER)
const redis = await startRedis(path)
const clients: Array<{ close(): Promise<unknown> }> = []
async function client() {
  const made = createClient({ url: redis.url })
  await made.connect()
  clients.push(made)
  return made
}

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

// run-relay/server: instance A produces, instance B streams.
const prefix = `bench${Date.now()}:`
const hostA: RunHost = createRunHost({ log: redisRunLog({ redis: fromNodeRedis(await client()), prefix }), heartbeatMs: 60_000 })
const hostB: RunHost = createRunHost({ log: redisRunLog({ redis: fromNodeRedis(await client()), prefix }), heartbeatMs: 60_000 })
let session = 0

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

// resumable-stream: context A runs the source, context B resumes it (its chunks travel by pub/sub from A's memory).
const rsPrefix = `rs${Date.now()}`
const contextOf = async () => createResumableStreamContext({ waitUntil: null, keyPrefix: rsPrefix, publisher: (await client()) as never, subscriber: (await client()) as never })
const rsA = await contextOf()
const rsB = await contextOf()
let rsId = 0
/** Sources still running: resumable-stream writes to Redis after a source closes, so the clients close after them. */
const sourcesRunning: Promise<void>[] = []
const tracked = (stream: ReadableStream<string>, done: Promise<void>) => (sourcesRunning.push(done), stream)

/** One chunk as the AI SDK hands it to resumable-stream (`consumeSseStream`: the UI message stream's SSE text). */
const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`

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

/** Raw appends to the Redis log, `batch` entries per fenced script call: events/s. */
async function appends(batch: number, total: number): Promise<number> {
  const log = hostA.log
  const runId = `bench-append-${batch}-${session++}`
  await log.create({ runId, sessionId: `append-${runId}`, owner: 'bench', leaseMs: 60_000 })
  const entries = Array.from({ length: batch }, () => ({ event: 'token', data: '{"text":"word "}' }))
  const began = performance.now()
  for (let seq = 0; seq < total; seq += batch) await log.append(runId, { owner: 'bench', expectedSeq: seq, leaseMs: 60_000 }, entries, false)
  return (total / (performance.now() - began)) * 1000
}

type Series = Record<string, number[]>
const relay: Series = { p50: [], p99: [], replay: [], flood: [], batched: [], unbatched: [] }
const rs: Series = { p50: [], p99: [], replay: [], flood: [] }
try {
  progress('warm-up')
  await relayLatency()
  await rsLatency()
  for (let round = 0; round < ROUNDS; round++) {
    progress(`round ${round + 1} of ${ROUNDS}`)
    const sides = round % 2 ? (['rs', 'relay'] as const) : (['relay', 'rs'] as const)
    for (const side of sides) {
      const lat = side === 'relay' ? await relayLatency() : await rsLatency()
      const into = side === 'relay' ? relay : rs
      into.p50!.push(percentile(lat, 0.5))
      into.p99!.push(percentile(lat, 0.99))
      into.replay!.push(side === 'relay' ? await relayReplay() : await rsReplay())
      into.flood!.push(side === 'relay' ? await relayFlood() : await rsFlood())
    }
    relay.batched!.push(await appends(32, 20_000))
    relay.unbatched!.push(await appends(1, 3_000))
  }
  const range = (values: number[], digits: number) => `[${sorted(values)[0]!.toFixed(digits)}–${sorted(values).at(-1)!.toFixed(digits)}]`
  const cell = (values: number[] | undefined, digits: number) => (values?.length ? `${median(values).toFixed(digits)} ${range(values, digits)}` : '')
  const rows = [
    ['writer → Redis → instance B → reader, 2,000 events/s, p50 (ms)', cell(relay.p50, 2), cell(rs.p50, 2), ''],
    ['same, p99 (ms)', cell(relay.p99, 2), cell(rs.p99, 2), ''],
    ['replay of 10,000 events on instance B (events/s)', cell(relay.replay, 0), cell(rs.replay, 0), 'resumable-stream: a running stream from its first chunk (it cannot replay a finished one)'],
    ['producer on A → reader on B, 20,000 events flat out (events/s)', cell(relay.flood, 0), cell(rs.flood, 0), ''],
    ['appends, 32 per fenced script call (events/s)', cell(relay.batched, 0), '', 'resumable-stream appends nothing to Redis (chunks stay in the producer)'],
    ['appends, one script call per event (events/s)', cell(relay.unbatched, 0), '', ''],
  ]
  console.log(`\nrun-relay/server vs resumable-stream 2.2.13, redis-server on localhost, medians of ${ROUNDS} rounds [range]\n`)
  console.table(rows.map(([what, ours, theirs, note]) => ({ what, 'run-relay/server (Redis Streams)': ours, 'resumable-stream': theirs, note })))
} finally {
  await Promise.all(sourcesRunning)
  await sleep(300) // resumable-stream's own end writes (its DONE sentinel) after the last source closed
  await hostA.close()
  await hostB.close()
  for (const made of clients) await made.close().catch(() => {})
  await redis.stop()
}
