import * as Comlink from 'comlink'
import { afterEach, describe, expect, it } from 'vitest'
import { RelayClient } from '../src/relay-client.ts'
import { RelayError, type RunRelay, type RunSpec, type RunSummary } from '../src/index.ts'
import type { SubscriberMessage } from '../common/hub-wire.ts'
import { RunHub, type HubOptions } from '../worker/hub.ts'
import { fakeTransport } from './fake-transport.ts'
import { expectTranscript, messageChannelConnector, recorder, waitFor } from './helpers.ts'

/** A hub in this page, reached over real MessageChannels through Comlink, with a hand-driven transport. */
function setup(options: Partial<HubOptions> = {}) {
  const fake = fakeTransport()
  const hub = new RunHub({ transports: { eventsource: fake.transport, fetch: fake.transport }, registryThrottleMs: 5, ...options })
  const relays: RunRelay[] = []
  const client = (clientId = `client-${relays.length + 1}`) => {
    const relay = new RelayClient(messageChannelConnector(hub), { clientId, callTimeoutMs: 2000 }, 'in-page')
    relays.push(relay)
    return relay
  }
  cleanups.push(() => relays.forEach((r) => r.dispose()))
  return { hub, fake, client }
}
const cleanups: Array<() => void> = []
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()))

const spec = (runId: string, sessionId = `session-of-${runId}`): RunSpec => ({ runId, sessionId, url: `/api/chat/stream?stream_id=${runId}`, preset: 'reference' })
const tokens = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ['token', `t${from + i}`] as [string, string])
const texts = (events: { data: string }[]) => events.map((e) => e.data)
/** The data of `tokens(from, to)`: what a subscriber should hold. */
const tokenTexts = (from: number, to: number) => tokens(from, to).map(([, data]) => data)
/** A delivery's messages by kind, a status by its name. */
const kinds = (batch: SubscriberMessage[]) => batch.map((m) => (m.type === 'status' ? m.status : m.type))
/** The `after_seq` each connection of a run asked for, in order. */
const resumedFrom = (connections: Array<{ request: { url: string } }>) => connections.map((c) => new URL(c.request.url).searchParams.get('after_seq'))

describe('hub over a MessageChannel', () => {
  it('joins a run that is opened again, from any client: one connection', async () => {
    const { fake, client } = setup()
    const [a, b] = [client(), client()]
    await a.open(spec('r1'))
    const joined = await b.open(spec('r1'))
    await a.open(spec('r1'))
    expect(joined.runId).toBe('r1')
    expect(fake.of('r1')).toHaveLength(1)
    expect((await b.diagnostics()).connectionsOpened).toEqual({ r1: 1 })
  })

  it('says stalled after stalledAfterMs of nothing, open at the next byte, and stalled again after that byte alone', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open({ ...spec('r1'), stalledAfterMs: 150, silenceTimeoutMs: 60_000 })
    const [connection] = fake.of('r1')
    connection!.handlers.onOpen()
    const seen = recorder()
    await relay.subscribe({ runId: 'r1' }, seen.handlers).ready
    await expectTranscript(() => seen.statuses, ['open', 'stalled'], { what: 'the run to be stalled' })
    connection!.emit(...tokens(1, 1))
    await expectTranscript(() => seen.statuses, ['open', 'stalled', 'open', 'stalled'], { what: 'open at the next byte, then stalled again after that byte alone' })
    expect(texts(seen.events)).toEqual(['t1'])
  })

  it('asks for a full replay on the first connection', async () => {
    const { fake, client } = setup()
    await client().open(spec('r1'))
    expect(new URL(fake.of('r1')[0]!.request.url).searchParams.get('after_seq')).toBe('0')
  })

  it('gives a late subscriber the catch-up, then live events, in order and each once', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    const [connection] = fake.of('r1')
    connection!.emit(...tokens(1, 10))
    const late = recorder()
    await relay.subscribe({ runId: 'r1' }, late.handlers).ready
    connection!.emit(...tokens(11, 15))
    await expectTranscript(() => texts(late.events), tokenTexts(1, 15))
    expect(late.events.map((e) => e.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
  })

  it('loses and doubles nothing for subscribers that join while events keep arriving', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    const [connection] = fake.of('r1')
    let sent = 0
    const pump = setInterval(() => connection!.emit(...tokens(sent + 1, (sent += 3))), 1)
    const subscribers = []
    for (let i = 0; i < 6; i++) {
      const seen = recorder()
      subscribers.push(seen)
      relay.subscribe({ runId: 'r1' }, seen.handlers) // not awaited: the catch-up is in flight while events arrive
      await waitFor(() => sent > (i + 1) * 12)
    }
    clearInterval(pump)
    for (const seen of subscribers) {
      await expectTranscript(() => texts(seen.events), tokenTexts(1, sent), { what: `all ${sent} events` })
    }
  })

  it('batches events that arrive together into one message per subscriber', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    const seen = recorder()
    await relay.subscribe({ runId: 'r1' }, seen.handlers).ready
    await waitFor(() => seen.statuses.length > 0)
    fake.of('r1')[0]!.emit(...tokens(1, 200))
    await expectTranscript(() => texts(seen.events), tokenTexts(1, 200))
    expect(seen.batches).toBe(1)
  })

  describe('flow control', () => {
    /** A sink whose deliveries settle only when the test says so, recording each batch. */
    function heldSink() {
      const batches: SubscriberMessage[][] = []
      const held: Array<{ settled: Promise<void>; settle: () => void }> = []
      const sink = {
        deliver(messages: SubscriberMessage[]) {
          batches.push(messages)
          let settle = () => {}
          const settled = new Promise<void>((resolve) => (settle = resolve))
          held.push({ settled, settle })
          return settled
        },
      }
      const events = () => batches.flat().flatMap((m) => (m.type === 'events' ? m.data : []))
      /**
       * Settles the oldest held delivery; resolves once the hub has heard it: the hub attached its
       * reaction to the delivery when it was made, so it runs before the one awaited here.
       */
      const release = async () => {
        const delivery = held.shift()
        delivery?.settle()
        await delivery?.settled
      }
      return { sink, batches, events, release }
    }

    it('sends at once when nothing is in flight, then holds everything until the tab settles it, and sends that as one message', async () => {
      const { fake, hub } = setup()
      hub.open(spec('r1'))
      const tab = heldSink()
      hub.subscribe('tab', { runId: 'r1' }, 'beginning', tab.sink)
      await expectTranscript(() => tab.batches.map(kinds), [['connecting']]) // the status on subscribing
      await tab.release()
      const connection = fake.of('r1')[0]!
      connection.emit(...tokens(1, 1))
      await Promise.resolve() // a microtask: no timer, no batch window
      expect(tab.events()).toEqual(['t1'])
      for (let i = 2; i <= 500; i++) connection.emit(...tokens(i, i)) // the tab has not settled t1 yet
      // A second subscriber that settles at once: once it has all 500, the hub has handled every
      // event, and would have sent the held tab whatever it was going to.
      const other = recorder()
      hub.subscribe('other', { runId: 'r1' }, 'beginning', { deliver: (messages) => messages.forEach((m) => m.type === 'events' && other.events.push(...m.data.map((data) => ({ seq: 0, type: 'token', data })))) })
      await expectTranscript(() => texts(other.events), tokenTexts(1, 500))
      expect(tab.batches).toHaveLength(2) // nothing piles up in the port of a slow or frozen tab
      await tab.release()
      await expectTranscript(() => tab.batches.map(kinds), [['connecting'], ['events'], ['events']]) // t2..t500 in one message
      expect(tab.events()).toEqual(tokenTexts(1, 500))
    })

    it('keeps control messages in log order across a held delivery', async () => {
      const { fake, hub } = setup()
      hub.open(spec('r1'))
      const tab = heldSink()
      hub.subscribe('tab', { runId: 'r1' }, 'beginning', tab.sink)
      await expectTranscript(() => tab.batches.map(kinds), [['connecting']])
      fake.of('r1')[0]!.emit(...tokens(1, 3), ['stream_end', '{}'])
      await tab.release()
      await expectTranscript(() => tab.batches.map(kinds), [['connecting'], ['events', 'ended']])
      expect(tab.events()).toEqual(['t1', 't2', 't3', '{}'])
    })

    it('sends the catch-up of a 10,000-event run as one message', async () => {
      const { fake, hub } = setup()
      hub.open(spec('r1'))
      fake.of('r1')[0]!.emit(...tokens(1, 10_000), ['stream_end', '{}'])
      const tab = heldSink()
      hub.subscribe('tab', { runId: 'r1' }, 'beginning', tab.sink)
      await expectTranscript(() => tab.batches.map(kinds), [['events', 'ended']])
      const [message] = tab.batches[0]!.filter((m) => m.type === 'events')
      expect(message).toMatchObject({ type: 'events', firstSeq: 1 })
      expect(message!.type === 'events' && message!.data.length).toBe(10_001)
    })
  })

  it('starts live, or after a given seq, when asked', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    fake.of('r1')[0]!.emit(...tokens(1, 5))
    const live = recorder()
    const after3 = recorder()
    await relay.subscribe({ runId: 'r1' }, live.handlers, { startAt: 'live' }).ready
    await relay.subscribe({ runId: 'r1' }, after3.handlers, { startAt: { afterSeq: 3 } }).ready
    fake.of('r1')[0]!.emit(...tokens(6, 7))
    await expectTranscript(() => texts(live.events), ['t6', 't7'])
    await expectTranscript(() => texts(after3.events), ['t4', 't5', 't6', 't7'])
  })

  it('skips what a subscriber from another hub already has while this hub replays the run', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    fake.of('r1')[0]!.emit(...tokens(1, 3))
    const seen = recorder()
    await relay.subscribe({ runId: 'r1' }, seen.handlers, { startAt: { afterEventId: 'r1:6', runId: 'r1' } }).ready
    fake.of('r1')[0]!.emit(...tokens(4, 8))
    await expectTranscript(() => texts(seen.events), ['t7', 't8'])
  })

  it('follows a session: its current run and every later one', async () => {
    const { fake, client } = setup()
    const relay = client()
    const seen = recorder()
    await relay.subscribe({ sessionId: 'chat' }, seen.handlers).ready
    await relay.open(spec('r1', 'chat'))
    fake.of('r1')[0]!.emit(...tokens(1, 3), ['stream_end', '{}'])
    await relay.open(spec('r2', 'chat'))
    await relay.open(spec('other', 'another-chat'))
    fake.of('r2')[0]!.emit(...tokens(4, 5))
    fake.of('other')[0]!.emit(...tokens(100, 101))
    await expectTranscript(() => texts(seen.eventsByRun.get('r2') ?? []), ['t4', 't5'])
    expect(seen.runs.map((run) => run.runId)).toEqual(['r1', 'r2'])
    expect(texts(seen.eventsByRun.get('r1')!)).toEqual(['t1', 't2', 't3', '{}'])
    expect(seen.eventsByRun.has('other')).toBe(false)
  })

  it('ends on a terminal event (not on done): closes the connection and never reconnects', async () => {
    const { fake, client } = setup({ backoff: { baseMs: 1, maxMs: 1 } })
    const relay = client()
    await relay.open(spec('r1'))
    const seen = recorder()
    await relay.subscribe({ runId: 'r1' }, seen.handlers).ready
    const [connection] = fake.of('r1')
    connection!.emit(['token', 'a'], ['done', '{}'], ['title', '"t"'])
    expect(connection!.closed).toBe(false)
    connection!.emit(['stream_end', '{}'])
    expect(connection!.closed).toBe(true)
    connection!.handlers.onDrop({ kind: 'closed' }) // the server's Connection: close, arriving late
    await waitFor(() => seen.ended)
    expect(seen.statuses).toEqual(['connecting', 'ended'])
    expect(fake.of('r1')).toHaveLength(1)
  })

  it('honours per-run end events', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open({ ...spec('r1'), end: { events: ['done'] } })
    fake.of('r1')[0]!.emit(['token', 'a'], ['done', '{}'])
    expect(fake.of('r1')[0]!.closed).toBe(true)
    expect((await relay.diagnostics()).runs[0]!.status).toBe('ended')
  })

  it('keeps an ended run for its retention period so a later pane sees the whole reply, then evicts it', async () => {
    const { fake, client } = setup({ retentionMs: 300 })
    const relay = client()
    const runs: RunSummary[][] = []
    relay.watchRuns((snapshot) => runs.push(snapshot))
    await relay.open(spec('r1'))
    fake.of('r1')[0]!.emit(...tokens(1, 4), ['stream_end', '{}'])
    const later = recorder()
    await relay.subscribe({ runId: 'r1' }, later.handlers).ready
    await waitFor(() => later.ended)
    expect(texts(later.events)).toEqual(['t1', 't2', 't3', 't4', '{}'])
    await waitFor(() => runs.at(-1)?.[0]?.status === 'ended', { what: 'the registry to show the run ended' })
    await waitFor(() => runs.at(-1)?.length === 0, { what: 'eviction' })
  })

  it('shows the run registry: status, event count, and runs that finished unwatched', async () => {
    const { fake, client } = setup()
    const [watcher, worker] = [client(), client()]
    let latest: RunSummary[] = []
    watcher.watchRuns((runs) => (latest = runs))
    await worker.open(spec('r1', 'chat-1'))
    await worker.open(spec('r2', 'chat-2'))
    const stop = worker.subscribe({ runId: 'r2' }, {})
    await stop.ready
    fake.of('r1')[0]!.handlers.onOpen()
    fake.of('r1')[0]!.emit(...tokens(1, 3), ['stream_end', '{}'])
    fake.of('r2')[0]!.emit(...tokens(1, 2), ['stream_end', '{}'])
    await waitFor(() => latest.length === 2 && latest.every((run) => run.status === 'ended'))
    const byId = Object.fromEntries(latest.map((run) => [run.runId, run]))
    expect(byId.r1).toMatchObject({ sessionId: 'chat-1', eventCount: 4, subscriberCount: 0, finishedUnwatched: true })
    expect(byId.r2).toMatchObject({ sessionId: 'chat-2', eventCount: 3, subscriberCount: 1, finishedUnwatched: false })
  })

  it("keeps delivering to everyone when one subscriber's listener throws", async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    const good = recorder()
    const errors: unknown[] = []
    const onError = (event: ErrorEvent) => {
      errors.push(event.error)
      event.preventDefault()
    }
    addEventListener('error', onError)
    try {
      relay.subscribe({ runId: 'r1' }, { onEvents: () => { throw new Error('pane bug') } })
      await relay.subscribe({ runId: 'r1' }, good.handlers).ready
      fake.of('r1')[0]!.emit(...tokens(1, 3))
      await expectTranscript(() => texts(good.events), tokenTexts(1, 3))
      fake.of('r1')[0]!.emit(...tokens(4, 6))
      await expectTranscript(() => texts(good.events), tokenTexts(1, 6))
    } finally {
      removeEventListener('error', onError)
    }
    expect(errors.length).toBeGreaterThan(0)
    expect(fake.of('r1')).toHaveLength(1)
    expect(fake.of('r1')[0]!.closed).toBe(false)
  })

  it('stops delivering after unsubscribe', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    const seen = recorder()
    const stop = relay.subscribe({ runId: 'r1' }, seen.handlers)
    fake.of('r1')[0]!.emit(...tokens(1, 2))
    await expectTranscript(() => texts(seen.events), ['t1', 't2'])
    stop()
    await waitFor(async () => (await relay.diagnostics()).runs[0]!.subscriberCount === 0)
  })

  it('sends nothing to a subscription after it ends', async () => {
    // At the hub's own sink: the page also drops a batch in flight after stop(), which would hide a hub that kept sending.
    const { fake, hub } = setup()
    hub.open(spec('r1'))
    const sent: string[] = []
    const id = hub.subscribe('tab', { runId: 'r1' }, 'beginning', { deliver: (messages) => messages.forEach((m) => m.type === 'events' && sent.push(...m.data)) })
    fake.of('r1')[0]!.emit(...tokens(1, 2))
    await expectTranscript(() => sent, ['t1', 't2'])
    hub.unsubscribe(id)
    fake.of('r1')[0]!.emit(...tokens(3, 4))
    // A later subscriber holding all four: the hub has handled both emits, for every subscriber it had.
    const later: string[] = []
    hub.subscribe('tab', { runId: 'r1' }, 'beginning', { deliver: (messages) => messages.forEach((m) => m.type === 'events' && later.push(...m.data)) })
    await expectTranscript(() => later, tokenTexts(1, 4))
    expect(sent).toEqual(['t1', 't2'])
  })

  it('resumes a dropped connection from its cursor and drops replayed duplicates', async () => {
    const { fake, client } = setup({ backoff: { baseMs: 1, maxMs: 1 } })
    const relay = client()
    await relay.open(spec('r1'))
    const seen = recorder()
    relay.subscribe({ runId: 'r1' }, seen.handlers)
    const [first] = fake.of('r1')
    first!.emit(...tokens(1, 3))
    first!.closed = true
    first!.handlers.onDrop({ kind: 'closed' })
    const second = await waitFor(() => fake.of('r1')[1])
    expect(new URL(second.request.url).searchParams.get('after_seq')).toBe('3')
    second.handlers.onEvent('token', 't3', 'r1:3') // a replayed duplicate
    second.emit(...tokens(4, 5))
    await expectTranscript(() => texts(seen.events), tokenTexts(1, 5))
  })

  it('refuses cross-origin and malformed URLs and bad specs with typed errors', async () => {
    const { fake, client } = setup()
    const relay = client()
    const failure = (s: RunSpec) => relay.open(s).then(() => undefined, (error: RelayError) => [error.name, error.code])
    expect(await failure({ ...spec('x'), url: 'https://elsewhere.example/stream' })).toEqual(['RelayError', 'url_refused'])
    expect(await failure({ ...spec('x'), url: 'javascript:alert(1)' })).toEqual(['RelayError', 'url_refused'])
    expect(await failure({ ...spec('x'), url: 'http://[bad' })).toEqual(['RelayError', 'url_refused'])
    expect(await failure({ ...spec('x'), runId: '' })).toEqual(['RelayError', 'invalid_spec'])
    expect(await failure({ ...spec('x'), url: undefined as unknown as string })).toEqual(['RelayError', 'invalid_spec'])
    expect(await failure({ ...spec('x'), transport: 'eventsource', method: 'POST' })).toEqual(['RelayError', 'invalid_spec'])
    expect(fake.connections).toHaveLength(0)
  })

  it('rejects an argument that cannot cross the boundary with a typed error', async () => {
    const { client } = setup()
    const notCloneable = { ...spec('x'), headers: { get: () => 'x' } } as unknown as RunSpec
    await expect(client().open(notCloneable)).rejects.toMatchObject({ name: 'RelayError', code: 'hub_error', message: expect.stringMatching(/DataCloneError|could not be cloned/) })
  })

  it('streams from an allow-listed origin', async () => {
    const { fake, client } = setup({ allowedOrigins: ['https://api.example'] })
    await client().open({ ...spec('x'), url: 'https://api.example/stream' })
    expect(fake.connections).toHaveLength(1)
  })
})

describe('hub signals and options', () => {
  it('tells a run subscriber when the hub does not hold the run yet, then delivers once it opens', async () => {
    const { fake, client } = setup()
    const relay = client()
    const waiting: string[] = []
    const seen = recorder()
    await relay.subscribe({ runId: 'later' }, { ...seen.handlers, onWaiting: (runId) => waiting.push(runId) }).ready
    await expectTranscript(() => waiting, ['later'])
    await relay.open(spec('later'))
    fake.of('later')[0]!.emit(...tokens(1, 2))
    await expectTranscript(() => texts(seen.events), ['t1', 't2'])
    expect(waiting).toEqual(['later'])
  })

  it('decodes JSON on request, reporting bad JSON as data', async () => {
    const { fake, client } = setup()
    const relay = client()
    await relay.open(spec('r1'))
    const seen = recorder()
    relay.subscribe({ runId: 'r1' }, seen.handlers, { decode: 'json' })
    fake.of('r1')[0]!.emit(['token', '{"text":"hi"}'], ['token', '{broken'])
    await expectTranscript(() => texts(seen.events), ['{"text":"hi"}', '{broken'])
    expect(seen.events[0]).toMatchObject({ json: { text: 'hi' } })
    expect(seen.events[1]!.json).toBeUndefined()
    expect(seen.events[1]!.decodeError).toMatch(/^token #2: /)
  })

  it('reconnects at once when the network comes back online', async () => {
    const { fake, client } = setup({ backoff: { baseMs: 60_000, maxMs: 60_000 }, random: () => 0.99 })
    const relay = client()
    await relay.open(spec('r1'))
    fake.of('r1')[0]!.emit(...tokens(1, 2))
    fake.of('r1')[0]!.handlers.onDrop({ kind: 'network', message: 'offline' })
    await waitFor(async () => (await relay.diagnostics()).runs[0]!.status === 'reconnecting')
    expect(fake.of('r1')).toHaveLength(1)
    dispatchEvent(new Event('online'))
    await expectTranscript(() => resumedFrom(fake.of('r1')), ['0', '2'], { what: 'an immediate reconnect, from seq 2' })
  })

  it('online brings back a run that had given up reconnecting: only the server can say a run is gone', async () => {
    const { fake, client } = setup({ backoff: { baseMs: 1, maxMs: 1 } })
    const relay = client()
    await relay.open({ ...spec('r1'), reconnect: { maxRetries: 0 } })
    fake.of('r1')[0]!.emit(...tokens(1, 2))
    fake.of('r1')[0]!.handlers.onDrop({ kind: 'network', message: 'gone' })
    await waitFor(async () => (await relay.diagnostics()).runs[0]!.error?.code === 'retries_exhausted')
    dispatchEvent(new Event('online'))
    const second = await waitFor(() => fake.of('r1')[1])
    expect(new URL(second.request.url).searchParams.get('after_seq')).toBe('2')
    expect((await relay.diagnostics()).runs[0]!.status).toBe('reconnecting')
  })

  it('watches for silence by default with EventSource too (45 s of no event): a half-open connection is reconnected from its cursor', async () => {
    const timers: Array<{ ms: number; fire: () => void }> = []
    let clock = 0
    const { fake, client } = setup({
      backoff: { baseMs: 1, maxMs: 1 },
      now: () => clock,
      setTimeout: (callback, ms) => {
        const timer = { ms, fire: callback }
        timers.push(timer)
        return globalThis.setTimeout(callback, ms > 1000 ? 2 ** 30 : ms) // long timers fire only by hand
      },
    })
    const relay = client()
    await relay.open({ ...spec('r1'), transport: 'eventsource' })
    const first = fake.of('r1')[0]!
    first.handlers.onOpen()
    first.emit(...tokens(1, 2))
    const silence = timers.filter((timer) => timer.ms === 45_000).at(-1)
    expect(silence).toBeDefined()
    clock += 30_000
    first.emit(...tokens(3, 3)) // a sign of life 30 s in: the watchdog waits 45 s from here
    clock += 15_000
    silence!.fire()
    expect(first.closed).toBe(false)
    const rearmed = timers.at(-1)!
    expect(rearmed.ms).toBe(30_000)
    clock += 30_000
    rearmed.fire() // nothing arrived for 45 s
    expect(first.closed).toBe(true)
    const second = await waitFor(() => fake.of('r1')[1])
    expect(new URL(second.request.url).searchParams.get('after_seq')).toBe('3')
  })

  it('parks runs beyond the budget, watched runs first, and resumes them from their cursor', async () => {
    const { fake, client } = setup({ connectionBudget: { http1: 2, http2: 10 } })
    const relay = client()
    for (const id of ['a', 'b', 'c']) await relay.open(spec(id))
    let runs: RunSummary[] = []
    relay.watchRuns((snapshot) => (runs = snapshot))
    await waitFor(() => runs.find((r) => r.runId === 'c')?.status === 'parked')
    expect(fake.of('c')).toHaveLength(0)
    fake.of('a')[0]!.emit(...tokens(1, 3))
    // Someone watches c: it takes the slot of the newest unwatched run (b).
    const seen = recorder()
    await relay.subscribe({ runId: 'c' }, seen.handlers).ready
    await waitFor(() => runs.find((r) => r.runId === 'b')?.status === 'parked' && fake.open('c').length === 1)
    expect(fake.open('b')).toHaveLength(0)
    // a ends: its slot goes to b, which resumes from its cursor.
    fake.of('a')[0]!.emit(['stream_end', '{}'])
    await expectTranscript(() => resumedFrom(fake.open('b')), ['0'], { what: 'b to resume' })
    expect(fake.connections.filter((c) => !c.closed)).toHaveLength(2)
  })

  it('learns HTTP/2 from Resource Timing and lifts the budget', async () => {
    let protocol: 'http1' | 'http2' = 'http1'
    const { fake, client } = setup({ connectionBudget: { http1: 1, http2: 10 }, observedProtocol: () => protocol })
    const relay = client()
    await relay.open(spec('a'))
    await relay.open(spec('b'))
    expect(fake.of('b')).toHaveLength(0)
    protocol = 'http2'
    await relay.open(spec('c'))
    expect(fake.open('b')).toHaveLength(1)
    expect(fake.open('c')).toHaveLength(1)
  })

  it('learns HTTP/2 from responses that show later (a stream that ended), without waiting for another open', async () => {
    let protocol: 'http1' | 'http2' | undefined
    let responses = () => {}
    const { fake, client } = setup({ connectionBudget: { http1: 1, http2: 10 }, observedProtocol: () => protocol, onResponses: (callback) => (responses = callback) })
    const relay = client()
    await relay.open(spec('a'))
    await relay.open(spec('b'))
    expect(fake.of('b')).toHaveLength(0)
    protocol = 'http2'
    responses() // a Resource Timing entry arrived
    expect(fake.open('b')).toHaveLength(1)
  })

  it('gives origins declared HTTP/2 the http2 budget from the first open', async () => {
    const { fake, client } = setup({ connectionBudget: { http1: 1, http2: 10 }, observedProtocol: () => undefined, http2Origins: [location.origin] })
    const relay = client()
    await relay.open(spec('a'))
    await relay.open(spec('b'))
    expect(fake.open('a')).toHaveLength(1)
    expect(fake.open('b')).toHaveLength(1)
    expect((await relay.diagnostics()).budget).toMatchObject({ protocol: 'http2', limit: 10 })
  })

  it("releases a subscription's channel when it ends: the page's sink is finalized", async () => {
    const hub = new RunHub({ transports: { eventsource: fakeTransport().transport } })
    const api = hub.connect()
    let finalized = 0
    const { port1, port2 } = new MessageChannel()
    Comlink.expose({ deliver() {}, [Comlink.finalizer]: () => finalized++ }, port1)
    api.subscribe({ runId: 'x' }, 'beginning', port2, 'sub-1')
    expect(finalized).toBe(0)
    api.unsubscribe('sub-1')
    await waitFor(() => finalized >= 1, { what: 'the sink to be finalized' })
    expect(finalized, 'finalized once').toBe(1)
  })
})

describe("the server's retry: field", () => {
  it('replaces the backoff base for the next reconnect', async () => {
    const { fake, client } = setup({ backoff: { baseMs: 60_000, maxMs: 60_000 }, random: () => 0.99 })
    const relay = client()
    await relay.open(spec('r1'))
    const [first] = fake.of('r1')
    first!.handlers.onRetry(10)
    first!.emit(...tokens(1, 1))
    first!.handlers.onDrop({ kind: 'closed' })
    await expectTranscript(() => resumedFrom(fake.of('r1')), ['0', '1'], { timeoutMs: 5000, what: 'a reconnect after about 10 ms, not 60 s' })
  })
})
