import { createRunRelay, type RunRelay } from '../src/index.ts'

/**
 * Benchmarks in a real browser against the dev chat server (run by `npm run bench`).
 * Each case runs several times; the median is reported.
 */
const REPEATS = 5
const TOKENS = 20_000

async function startRun(tokens: number): Promise<string> {
  const body = JSON.stringify({ session_id: crypto.randomUUID(), message: 'bench', tokens, rate: 200_000 })
  return ((await (await fetch('/api/chat/start', { method: 'POST', body })).json()) as { stream_id: string }).stream_id
}

/** Opens a run and resolves when every subscriber has seen it end: ms, events, deliveries per subscriber. */
async function live(relay: RunRelay, subscribers: number) {
  const runId = await startRun(TOKENS)
  const started = performance.now()
  await relay.open({ runId, sessionId: runId, url: `/api/chat/stream?stream_id=${runId}` })
  const results = await Promise.all(Array.from({ length: subscribers }, () => follow(relay, runId)))
  return { ms: performance.now() - started, events: results[0]!.events, deliveries: results[0]!.deliveries, runId }
}

function follow(relay: RunRelay, runId: string) {
  return new Promise<{ events: number; deliveries: number }>((resolve) => {
    let events = 0
    let deliveries = 0
    const stop = relay.subscribe({ runId }, {
      onEvents(batch) {
        events += batch.length
        deliveries++
      },
      onStatus(status) {
        if (status === 'ended') {
          stop()
          resolve({ events, deliveries })
        }
      },
    })
  })
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function run(mode: 'shared-worker' | 'in-page') {
  const relay = createRunRelay({ name: `bench-${crypto.randomUUID()}`, mode })
  await relay.ready
  await live(relay, 1) // warm-up
  const rows: Record<string, string | number> = { mode }
  for (const subscribers of [1, 4]) {
    const samples = []
    for (let i = 0; i < REPEATS; i++) samples.push(await live(relay, subscribers))
    const ms = median(samples.map((s) => s.ms))
    rows[`live ${subscribers} sub: ms`] = Math.round(ms)
    rows[`live ${subscribers} sub: events/s`] = Math.round((samples[0]!.events / ms) * 1000)
    rows[`live ${subscribers} sub: events/delivery`] = Math.round(samples[0]!.events / median(samples.map((s) => s.deliveries)))
  }
  const { runId, events } = await live(relay, 1)
  const catchUp = []
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now()
    await follow(relay, runId)
    catchUp.push(performance.now() - started)
  }
  rows['catch-up of a finished run: ms'] = Math.round(median(catchUp))
  rows['catch-up: events/s'] = Math.round((events / median(catchUp)) * 1000)
  relay.dispose()
  return rows
}

const results = [await run('shared-worker'), await run('in-page')]
document.querySelector('#out')!.textContent = JSON.stringify(results, null, 2)
Object.assign(globalThis, { benchResults: results })
