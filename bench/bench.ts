import { createElement, Profiler, useLayoutEffect } from 'react'
import { createRoot } from 'react-dom/client'
import { createRunRelay, type RunRelay } from '../src/index.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'
import { useRun } from '../src/react.ts'

/**
 * Benchmark cases in a real browser against the dev chat server. `scripts/bench.mjs` opens
 * this page (and more tabs of it for fan-out), calls these functions alternately for the hub
 * and for a page that reads the stream with its own EventSource, and prints medians.
 */

const now = () => performance.timeOrigin + performance.now()

async function startRun(tokens: number, rate: number, stamp = false): Promise<string> {
  const body = JSON.stringify({ session_id: crypto.randomUUID(), message: 'bench', tokens, rate, stamp })
  return ((await (await fetch('/api/chat/start', { method: 'POST', body })).json()) as { stream_id: string }).stream_id
}

const streamUrl = (runId: string) => `/api/chat/stream?stream_id=${runId}`
let relay: RunRelay | undefined

/** This tab's relay to the benchmark's SharedWorker (`name` is shared by every tab of one bench run). */
function connect(name: string): Promise<unknown> {
  relay?.dispose()
  relay = createRunRelay({ name })
  return relay.ready
}

/** Follows a run through the hub until it ends: every event's arrival time, and the number of deliveries. */
function followHub(runId: string, onEvent: (data: string) => void = () => {}, decode?: 'json'): Promise<{ events: number; deliveries: number; endedAt: number }> {
  return new Promise((resolve) => {
    let events = 0
    let deliveries = 0
    const stop = relay!.subscribe({ runId }, {
      onEvents(batch) {
        deliveries++
        events += batch.length
        for (const event of batch) onEvent(event.data)
      },
      onStatus(status) {
        if (status !== 'ended') return
        stop()
        resolve({ events, deliveries, endedAt: now() })
      },
    }, decode ? { decode } : {})
  })
}

/** The baseline: the page reads the stream itself with a native EventSource. */
function followEventSource(runId: string, onEvent: (data: string) => void = () => {}): Promise<{ events: number; deliveries: number; endedAt: number }> {
  return new Promise((resolve) => {
    const source = new EventSource(`${streamUrl(runId)}&after_seq=0`)
    let events = 0
    const count = (event: MessageEvent) => {
      events++
      onEvent(event.data as string)
    }
    for (const name of ['token', 'tool', 'tool_complete', 'metering', 'done', 'title']) source.addEventListener(name, count)
    source.addEventListener('stream_end', (event) => {
      count(event as MessageEvent)
      source.close()
      resolve({ events, deliveries: events, endedAt: now() })
    })
  })
}

/** `hub`: the hub with its default transport; `hub-fetch`, `hub-eventsource`: the hub with that transport; `eventsource`: the page's own EventSource. */
type Mode = 'hub' | 'hub-fetch' | 'hub-eventsource' | 'eventsource'

async function follow(mode: Mode, runId: string, onEvent?: (data: string) => void) {
  if (mode === 'eventsource') return followEventSource(runId, onEvent)
  const transport = mode === 'hub-fetch' ? 'fetch' : mode === 'hub-eventsource' ? 'eventsource' : undefined
  await relay!.open({ runId, sessionId: runId, url: streamUrl(runId), preset: 'reference', ...(transport ? { transport } : {}) })
  return followHub(runId, onEvent)
}

/** Server-to-handler latency of each token of a run at `rate` events/s, in ms; the first `warmup` are left out (replayed before the connection was up). */
async function latency(mode: Mode, tokens = 2000, rate = 2000, warmup = 200): Promise<number[]> {
  const runId = await startRun(tokens, rate, true)
  const samples: number[] = []
  await follow(mode, runId, (data) => {
    const at = (JSON.parse(data) as { at?: number }).at
    if (at !== undefined) samples.push(now() - at)
  })
  return samples.slice(warmup)
}

/** Events per second of a run the server sends as fast as it can. */
async function throughput(mode: Mode, tokens = 20_000): Promise<{ eventsPerSecond: number; eventsPerDelivery: number }> {
  const runId = await startRun(tokens, 10_000_000)
  const started = now()
  const { events, deliveries, endedAt } = await follow(mode, runId)
  return { eventsPerSecond: (events / (endedAt - started)) * 1000, eventsPerDelivery: events / deliveries }
}

async function openRun(runId: string): Promise<void> {
  await relay!.open({ runId, sessionId: runId, url: streamUrl(runId), preset: 'reference' })
}

/** Opens a run in the hub and waits until it has ended there; returns its id. */
async function finishedRun(tokens: number, retentionMs?: number): Promise<string> {
  const runId = await startRun(tokens, 10_000_000)
  // Subscribe first: a run evicted at once (retentionMs 0) may be gone before a later subscriber comes.
  const ended = followHub(runId)
  await relay!.open({ runId, sessionId: runId, url: streamUrl(runId), retentionMs, preset: 'reference' })
  await ended
  return runId
}

/** Time for a new subscriber to receive a finished run, up to its last event; with `decode: 'json'`, each event's data parsed too. */
async function catchUp(runId: string, decode?: 'json'): Promise<{ ms: number; events: number }> {
  const started = now()
  const { events, endedAt } = await followHub(runId, undefined, decode)
  return { ms: endedAt - started, events }
}

/**
 * The same catch-up into a React component that shows the run with `useRun` (text folded with the
 * default reducer, events decoded as JSON): ms from mounting it to the commit that shows the run
 * ended with all its events, and React's commits after the mount's up to that one.
 */
async function reactCatchUp(runId: string, events: number): Promise<{ ms: number; updates: number; shown: number }> {
  const container = document.body.appendChild(document.createElement('div'))
  const root = createRoot(container)
  try {
    return await new Promise((resolve) => {
      let commits = 0
      let started = 0
      function Run() {
        const view = useRun(runId, { relay })
        useLayoutEffect(() => {
          if (view.status === 'ended' && view.eventCount >= events) resolve({ ms: now() - started, updates: commits - 1, shown: view.eventCount })
        })
        return createElement('pre', null, `${view.eventCount} events, ${view.state.length} characters`)
      }
      started = now()
      root.render(createElement(Profiler, { id: 'run', onRender: () => void commits++ }, createElement(Run)))
    })
  } finally {
    root.unmount()
    container.remove()
  }
}

/** The payload of a run as the server sent it: characters of type, data and id (ASCII, so bytes). */
async function payloadBytes(runId: string): Promise<number> {
  const { events } = (await (await fetch(`/api/chat/transcript?stream_id=${runId}`)).json()) as { events: Array<{ seq: number; event: string; data: string }> }
  return events.reduce((sum, e) => sum + e.event.length + e.data.length + `${runId}:${e.seq}`.length, 0)
}

/** Opens `count` short runs, `parallel` at a time, that the hub evicts as soon as they end. */
async function evictedRuns(count: number, parallel = 4): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next++ < count) await finishedRun(20, 0)
  }))
  const deadline = performance.now() + 10_000
  while ((await relay!.diagnostics()).runs.length > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
}

/**
 * The candidate wire forms of a 10,000-event catch-up, each sent through a real MessageChannel
 * and turned back into event objects on the other side: ms per round.
 */
async function encodings(events = 10_000): Promise<Record<string, number>> {
  const sample = Array.from({ length: events }, (_, i) => ({ seq: i + 1, type: i % 20 ? 'token' : 'metering', data: JSON.stringify({ text: `word ${i % 17} ` }), id: `s1-bench:${i + 1}` }))
  const forms = {
    objects: { encode: () => sample, decode: (x: typeof sample) => x.map((e) => ({ ...e })) },
    columns: {
      encode: () => ({ firstSeq: 1, types: sample.map((e) => e.type), data: sample.map((e) => e.data), ids: sample.map((e) => e.id) }),
      decode: (c: { firstSeq: number; types: string[]; data: string[]; ids: string[] }) => c.types.map((type, i) => ({ seq: c.firstSeq + i, type, data: c.data[i], id: c.ids[i] })),
    },
    'one string': {
      encode: () => {
        const lengths = new Uint32Array(events * 3)
        sample.forEach((e, i) => lengths.set([e.type.length, e.data.length, e.id.length], i * 3))
        return { firstSeq: 1, text: sample.map((e) => e.type + e.data + e.id).join(''), lengths }
      },
      decode: (c: { firstSeq: number; text: string; lengths: Uint32Array }) => {
        let at = 0
        const take = (length: number) => c.text.slice(at, (at += length))
        return Array.from({ length: c.lengths.length / 3 }, (_, i) => ({ seq: c.firstSeq + i, type: take(c.lengths[i * 3]!), data: take(c.lengths[i * 3 + 1]!), id: take(c.lengths[i * 3 + 2]!) }))
      },
    },
  }
  const { port1, port2 } = new MessageChannel()
  const result: Record<string, number> = {}
  for (const [name, form] of Object.entries(forms)) {
    const rounds: number[] = []
    for (let round = 0; round < 7; round++) {
      const started = performance.now()
      const decoded = await new Promise<unknown[]>((resolve) => {
        port2.onmessage = (message) => resolve((form.decode as (x: unknown) => unknown[])(message.data))
        port1.postMessage(form.encode())
      })
      if (decoded.length !== events) throw new Error(`${name} lost events`)
      rounds.push(performance.now() - started)
    }
    result[name] = rounds.sort((a, b) => a - b)[3]!
  }
  port1.close()
  return result
}

const benchApi = { connect, startRun, openRun, latency, throughput, finishedRun, catchUp, reactCatchUp, payloadBytes, evictedRuns, encodings, followHub, now, protocolVersion: () => PROTOCOL_VERSION }
Object.assign(globalThis, { benchApi })
export type BenchApi = typeof benchApi
document.querySelector('#out')!.textContent = 'ready'
