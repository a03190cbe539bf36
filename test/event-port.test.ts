import { commands } from 'vitest/browser'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRunRelay, type RunSpec } from '../src/index.ts'
import type { EventPortMessage, HubApi, SubscriberMessage } from '../common/hub-wire.ts'
import type { EventPortWire, TabWire } from '../src/tab-wire.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'
import { RunHub } from '../worker/hub.ts'
import { fakeTransport } from './fake-transport.ts'
import { endedInTab, finishedTranscript, shape, startRun, uniqueName, waitFor } from './helpers.ts'

/** A hub in this page, driven by hand; each "tab" is its client API with an event port whose page end the test holds. */
function setup() {
  const fake = fakeTransport()
  const hub = new RunHub({ transports: { eventsource: fake.transport, fetch: fake.transport }, registryThrottleMs: 5 })
  const tab = (clientId: string, { acks }: { acks: boolean }) => {
    const api: HubApi = hub.connect()
    api.hello(clientId, PROTOCOL_VERSION)
    const { port1, port2 } = new MessageChannel()
    api.events(port2)
    const batches: Array<{ subscriptionId: string; messages: SubscriberMessage[] }> = []
    port1.onmessage = ({ data }: MessageEvent<EventPortMessage>) => {
      if (data.type !== 'batch') return
      batches.push(data)
      if (acks) ack(data.subscriptionId)
    }
    const ack = (subscriptionId: string) => port1.postMessage({ type: 'ack', subscriptionId } satisfies EventPortMessage)
    const events = (subscriptionId: string) => batches.filter((b) => b.subscriptionId === subscriptionId).flatMap((b) => b.messages.flatMap((m) => (m.type === 'events' ? m.data : [])))
    ports.push(port1)
    return { api, port: port1, batches, ack, events }
  }
  return { hub, fake, tab }
}
const ports: MessagePort[] = []
afterEach(() => ports.splice(0).forEach((port) => port.close()))

const spec = (runId: string): RunSpec => ({ runId, sessionId: `session-of-${runId}`, url: `/api/chat/stream?stream_id=${runId}`, preset: 'reference' })
const tokens = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ['token', `t${from + i}`] as [string, string])

describe('the event port', () => {
  it('holds at most one batch for a tab that never acks, and sends the rest as one batch after its ack', async () => {
    const { fake, tab } = setup()
    const frozen = tab('frozen', { acks: false })
    const live = tab('live', { acks: true })
    frozen.api.open(spec('r1'))
    frozen.api.subscribe({ runId: 'r1' }, 'beginning', undefined, 'frozen/1')
    live.api.subscribe({ runId: 'r1' }, 'beginning', undefined, 'live/1')
    const [connection] = fake.of('r1')
    // In several tasks: each would be a batch of its own for a tab that acks.
    for (let i = 0; i < 5; i++) {
      connection!.emit(...tokens(i * 10 + 1, i * 10 + 10))
      await waitFor(() => live.events('live/1').length === i * 10 + 10, { what: `the acking tab to get ${i * 10 + 10} events` })
    }
    expect(live.batches.length).toBeGreaterThan(1)
    expect(frozen.batches).toHaveLength(1)

    frozen.ack('frozen/1')
    await waitFor(() => frozen.events('frozen/1').length === 50, { what: 'the rest after the ack' })
    expect(frozen.batches).toHaveLength(2)
    expect(frozen.events('frozen/1')).toEqual(tokens(1, 50).map(([, data]) => data))
  })

  it('a repeated subscribe of a live id changes nothing: the first subscription goes on receiving, and its port still frees it', async () => {
    const { hub, fake, tab } = setup()
    const page = tab('page', { acks: true })
    page.api.open(spec('r1'))
    page.api.subscribe({ runId: 'r1' }, 'beginning', undefined, 'page/1')
    page.api.subscribe({ runId: 'r1' }, 'beginning', undefined, 'page/1') // a repeat (a retried call)
    const [connection] = fake.of('r1')
    for (let i = 0; i < 3; i++) {
      connection!.emit(...tokens(i * 10 + 1, i * 10 + 10))
      await waitFor(() => page.events('page/1').length === i * 10 + 10, { what: `the first subscription to get ${i * 10 + 10} events` })
    }
    expect(page.events('page/1')).toEqual(tokens(1, 30).map(([, data]) => data))
    page.port.postMessage({ type: 'close' } satisfies EventPortMessage)
    await waitFor(() => hub.diagnostics().subscriptionsByClient.page === 0, { what: 'the closed port to free the subscription' })
  })

  it('ends every subscription delivered on a port the page closes; the other tabs keep theirs', async () => {
    const { hub, fake, tab } = setup()
    const closing = tab('closing', { acks: true })
    const other = tab('other', { acks: true })
    closing.api.open(spec('r1'))
    for (let i = 1; i <= 3; i++) closing.api.subscribe({ runId: 'r1' }, 'beginning', undefined, `closing/${i}`)
    other.api.subscribe({ runId: 'r1' }, 'beginning', undefined, 'other/1')
    expect(hub.diagnostics().subscriptionsByClient).toEqual({ closing: 3, other: 1 })

    closing.port.postMessage({ type: 'close' } satisfies EventPortMessage)
    closing.port.close()
    await waitFor(() => hub.diagnostics().subscriptionsByClient.closing === 0, { what: 'the closed port to free its subscriptions' })
    expect(hub.diagnostics().subscriptionsByClient.other).toBe(1)
    expect(hub.diagnostics().runs[0]!.subscriberCount).toBe(1)
    fake.of('r1')[0]!.emit(...tokens(1, 3))
    await waitFor(() => other.events('other/1').length === 3, { what: 'the other tab to go on' })
  })
})

describe('the event port in leader-tab mode (no SharedWorker)', () => {
  const original = globalThis.SharedWorker
  beforeAll(() => Reflect.deleteProperty(globalThis, 'SharedWorker'))
  afterAll(() => {
    globalThis.SharedWorker = original
  })

  it("carries a follower tab's deliveries and acks on the channel, addressed to its endpoint, and none through Comlink", async () => {
    const name = uniqueName('leader-events')
    const here = createRunRelay({ name })
    await here.ready // first: this page leads
    expect(here.mode).toBe('shared-tab')
    // A second channel object of the same name hears everything the tabs post (a channel never hears itself).
    const wire: Array<TabWire | EventPortWire> = []
    const spy = new BroadcastChannel(`run-relay:${name}@${PROTOCOL_VERSION}`)
    spy.onmessage = (event: MessageEvent<TabWire | EventPortWire>) => void wire.push(event.data)
    const tab = await commands.openTab('/test/fixtures/tab.html')
    try {
      await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)}, { noSharedWorker: true })`)
      const run = await startRun(uniqueName('session'), 'events on the wire', { tokens: 40, rate: 400 })
      await commands.evalInTab(tab, `tab.open(${JSON.stringify({ runId: run.streamId, sessionId: run.sessionId, url: run.url })})`)
      await commands.evalInTab(tab, `tab.subscribe('s', ${JSON.stringify({ runId: run.streamId })})`)
      const seen = await endedInTab(tab, 's')
      expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))

      const batches = wire.filter((w) => w.kind === 'events-to-follower' && w.data.type === 'batch')
      expect(batches.length).toBeGreaterThan(0)
      expect(new Set(batches.map((w) => (w as { to: string }).to)).size).toBe(1)
      const acks = () => wire.filter((w) => w.kind === 'events-to-leader' && w.data.type === 'ack').length
      await waitFor(() => acks() === batches.length, { what: 'an ack for every batch' })
      // Comlink's traffic to the follower holds answers to control calls, never a delivery.
      expect(wire.filter((w) => w.kind === 'to-follower' || w.kind === 'port').map((w) => JSON.stringify(w.data)).filter((data) => data.includes('"events"'))).toEqual([])
    } finally {
      spy.close()
      await commands.closeTab(tab)
      here.dispose()
    }
  })
})
