// `npm run bench`: serves the project with Vite (dev chat server included), opens
// bench/bench.html in headless Chromium, runs each case side by side with a page that
// reads the stream with its own EventSource, alternating, and prints medians and ratios.
import { existsSync } from 'node:fs'
import os from 'node:os'
import { chromium } from 'playwright'
import { createServer } from 'vite'
import { attachToSharedWorker } from './worker-cdp.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
/** ROUNDS rounds over two modes, the order flipping each round, so neither always runs on a warmer machine. */
async function alternating([first, second], measure) {
  for (let round = 0; round < ROUNDS; round++) for (const mode of round % 2 ? [second, first] : [first, second]) await measure(mode)
}
/** `BENCH_ONLY=transports`: only the hub's two transports side by side (about a minute). */
const ONLY = process.env.BENCH_ONLY
const FLOOD = Number(process.env.BENCH_FLOOD ?? 200_000)
const server = await createServer({ server: { port: 0, host: '127.0.0.1' }, logLevel: 'error' })
await server.listen()
const { port } = server.httpServer.address()
const executablePath = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => p && existsSync(p))
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]
const fixed = (value, digits = 2) => Number(value.toFixed(digits))
const progress = (what) => process.stderr.write(`bench: ${what}\n`)

async function openTab(context) {
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`http://127.0.0.1:${port}/bench/bench.html`)
  await page.waitForFunction(() => globalThis.benchApi, null, { timeout: 60_000 })
  return page
}
const call = (page, method, ...args) => page.evaluate(([m, a]) => globalThis.benchApi[m](...a), [method, args])

/** The V8 heap of the SharedWorker named `title`, after a full GC, through the DevTools protocol. */
async function workerHeap(title) {
  const worker = await attachToSharedWorker(browser, title)
  try {
    for (let i = 0; i < 3; i++) await worker.send('HeapProfiler.collectGarbage')
    return (await worker.send('Runtime.getHeapUsage')).usedSize
  } finally {
    await worker.detach()
  }
}

/** `BENCH_ONLY=catch-up`: a new subscriber to a finished 10,000-event run, as it is, with `decode: 'json'`, and in React. */
async function catchUpBench(main, row) {
  progress('catch-up')
  // Catch-up of a finished 10,000-event run, and the wire forms it could take.
  const finished = await call(main, 'finishedRun', 10_000)
  // One of each first, unmeasured: a page's first catch-up runs cold code (3–4× a warm one here).
  const { events: finishedEvents } = await call(main, 'catchUp', finished)
  await call(main, 'catchUp', finished, 'json')
  await call(main, 'reactCatchUp', finished, finishedEvents)
  for (const decode of [undefined, 'json']) {
    const catchUps = []
    for (let round = 0; round < ROUNDS; round++) catchUps.push((await call(main, 'catchUp', finished, decode)).ms)
    const what = decode ? "the same with decode: 'json' (each event's data parsed)" : 'catch-up of a finished 10,000-event run, to its last event (ms)'
    row(what, fixed(median(catchUps)), '', `target ≤ 10 ms; range ${fixed(Math.min(...catchUps))}–${fixed(Math.max(...catchUps))}`)
  }
  // The same catch-up shown by a React component (useRun): to the commit that shows its last event, and how many renders it took.
  const inReact = []
  for (let round = 0; round < ROUNDS; round++) inReact.push(await call(main, 'reactCatchUp', finished, finishedEvents))
  const reactMs = inReact.map((r) => r.ms)
  const updates = [...new Set(inReact.map((r) => r.updates))].join(', ')
  row('the same catch-up in a React component (useRun), to its last event shown (ms)', fixed(median(reactMs)), '',
    `target ≤ 10 ms, one render; renders after the mount's: ${updates}; range ${fixed(Math.min(...reactMs))}–${fixed(Math.max(...reactMs))}`)
  const encodings = await call(main, 'encodings')
  for (const [form, ms] of Object.entries(encodings)) row(`wire form of a 10,000-event catch-up: ${form} (ms, clone + decode)`, fixed(ms), '', form === 'columns' ? 'chosen' : '')
}

try {
  const context = await browser.newContext()
  const main = await openTab(context)
  const name = `bench-${Date.now()}`
  await call(main, 'connect', name)
  const rows = []
  const row = (what, hub, eventsource, note = '') => rows.push({ what, hub, 'own EventSource': eventsource, 'hub / EventSource': eventsource ? fixed(hub / eventsource) : '', note })

  if (ONLY === 'catch-up') {
    await catchUpBench(main, row)
    console.log(`run-relay bench, catch-up: Chromium ${browser.version()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}; medians of ${ROUNDS} rounds`)
    console.table(rows)
  } else {
  // The hub's two transports, side by side: latency at a chat-like rate, and throughput in a large flood.
  progress(`transports: latency, and a ${FLOOD.toLocaleString('en')}-event flood`)
  const byTransport = { 'hub-fetch': { p50: [], p99: [], flood: [] }, 'hub-eventsource': { p50: [], p99: [], flood: [] } }
  await call(main, 'latency', 'hub-eventsource', 400, 2000, 100) // warm-up
  await alternating(['hub-fetch', 'hub-eventsource'], async (mode) => {
    const samples = await call(main, 'latency', mode)
    byTransport[mode].p50.push(percentile(samples, 0.5))
    byTransport[mode].p99.push(percentile(samples, 0.99))
    byTransport[mode].flood.push((await call(main, 'throughput', mode, FLOOD)).eventsPerSecond)
  })
  const spread = (values, digits) => `${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)}`
  const transportRows = []
  const transportRow = (what, key, digits) => transportRows.push({
    what, fetch: fixed(median(byTransport['hub-fetch'][key]), digits), EventSource: fixed(median(byTransport['hub-eventsource'][key]), digits),
    'fetch / EventSource': fixed(median(byTransport['hub-fetch'][key]) / median(byTransport['hub-eventsource'][key])),
    range: `fetch ${spread(byTransport['hub-fetch'][key], digits)}; EventSource ${spread(byTransport['hub-eventsource'][key], digits)}`,
  })
  transportRow('latency at 2,000 events/s, p50 (ms)', 'p50', 2)
  transportRow('latency at 2,000 events/s, p99 (ms)', 'p99', 2)
  transportRow(`throughput, ${FLOOD.toLocaleString('en')}-event flood (events/s)`, 'flood', 0)
  console.log(`run-relay bench, the hub's transports: Chromium ${browser.version()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}; medians of ${ROUNDS} alternating rounds`)
  console.table(transportRows)
  // BENCH_ONLY=transports stops here.
  others: {
    if (ONLY === 'transports') break others

    // Latency and throughput: hub and own EventSource alternate, the order flipping each round.
    const latency = { hub: { p50: [], p99: [] }, eventsource: { p50: [], p99: [] } }
    const throughput = { hub: [], eventsource: [] }
    let eventsPerDelivery = []
    progress('latency and throughput')
    await call(main, 'latency', 'hub', 400, 2000, 100) // warm-up
    await alternating(['hub', 'eventsource'], async (mode) => {
      const samples = await call(main, 'latency', mode)
      latency[mode].p50.push(percentile(samples, 0.5))
      latency[mode].p99.push(percentile(samples, 0.99))
      const { eventsPerSecond, eventsPerDelivery: perDelivery } = await call(main, 'throughput', mode)
      throughput[mode].push(eventsPerSecond)
      if (mode === 'hub') eventsPerDelivery.push(perDelivery)
    })
    const lat = (mode, p) => median(latency[mode][p])
    row('latency at 2,000 events/s, p50 (ms)', fixed(lat('hub', 'p50')), fixed(lat('eventsource', 'p50')), `added: ${fixed(lat('hub', 'p50') - lat('eventsource', 'p50'))} ms (target ≤ 0.1)`)
    row('latency at 2,000 events/s, p99 (ms)', fixed(lat('hub', 'p99')), fixed(lat('eventsource', 'p99')), `added: ${fixed(lat('hub', 'p99') - lat('eventsource', 'p99'))} ms (target ≤ 0.5)`)
    row('throughput, 20,000 events (events/s)', Math.round(median(throughput.hub)), Math.round(median(throughput.eventsource)), `target ≥ 4×; hub events per delivery: ${Math.round(median(eventsPerDelivery))}`)

    progress('fan-out')
    // Fan-out: the same run followed in 1 tab and in 4 tabs (the test page and 3 more), alternating.
    const tabs = [main, ...(await Promise.all([1, 2, 3].map(() => openTab(context))))]
    for (const tab of tabs.slice(1)) await call(tab, 'connect', name)
    const fanOut = { 1: [], 4: [] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const count of round % 2 ? [4, 1] : [1, 4]) {
        const runId = await call(main, 'startRun', 20_000, 10_000_000)
        const started = await call(main, 'now')
        const following = tabs.slice(0, count).map((tab) => call(tab, 'followHub', runId))
        await call(main, 'openRun', runId)
        const ends = await Promise.all(following)
        fanOut[count].push(Math.max(...ends.map((end) => end.endedAt)) - started)
      }
    }
    row('fan-out: a 20,000-event run in 4 tabs / in 1 tab', fixed(median(fanOut[4]) / median(fanOut[1])), '', `ms: 1 tab ${Math.round(median(fanOut[1]))}, 4 tabs ${Math.round(median(fanOut[4]))} (target ≤ 1.3×)`)
    for (const tab of tabs.slice(1)) await tab.close()

    await catchUpBench(main, row)

    progress('memory')
    // Memory, in a fresh worker: heap per buffered run against its payload, and after 1,000 evictions.
    const heapName = `${name}-heap`
    await call(main, 'connect', heapName)
    const title = `${heapName}@${await call(main, 'protocolVersion')}` // the worker's name carries the protocol version
    const perPayload = []
    for (let round = 0; round < 3; round++) {
      const before = await workerHeap(title)
      const runId = await call(main, 'finishedRun', 20_000)
      const after = await workerHeap(title)
      perPayload.push((after - before) / (await call(main, 'payloadBytes', runId)))
    }
    row('worker heap per buffered run / its payload bytes', fixed(median(perPayload)), '', 'target ≤ 2×')
    progress('1,000 evicted runs')
    const baseline = await workerHeap(title)
    await call(main, 'evictedRuns', 1000)
    const afterEviction = await workerHeap(title)
    row('worker heap after 1,000 runs evicted / before', fixed(afterEviction / baseline, 3), '', `${Math.round(baseline / 1024)} KiB → ${Math.round(afterEviction / 1024)} KiB (target within 10 %)`)

    console.log(`run-relay bench: Chromium ${browser.version()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; medians of ${ROUNDS} alternating rounds`)
    console.table(rows)
  }
  }
} finally {
  await browser.close()
  await server.close()
}
