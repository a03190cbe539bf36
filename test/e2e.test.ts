import { commands } from 'vitest/browser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RelayOptions, RunRelay, RunSummary, TransportKind } from '../src/index.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'
import { tunnelCount } from '../src/shared-tab.ts'
import { endedInTab, finishedTranscript, recorder, serverStats, shape, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

let forcedMode: RelayOptions['mode']
const relay = useRelays('e2e', () => ({ mode: forcedMode }))

/**
 * The suite runs three times: with a real SharedWorker; with SharedWorker removed from
 * the page (Android WebView, in-app browsers), where 'auto' runs the hub in a leader tab;
 * and with a hub per tab ('in-page'). Same API, same guarantees.
 */
describe.each([
  { label: 'shared-worker', removeSharedWorker: false, mode: undefined, expected: 'shared-worker' },
  { label: 'no SharedWorker', removeSharedWorker: true, mode: undefined, expected: 'shared-tab' },
  { label: 'in-page', removeSharedWorker: false, mode: 'in-page', expected: 'in-page' },
] as const)('$label', ({ removeSharedWorker, mode, expected }) => {
  const original = globalThis.SharedWorker
  beforeAll(() => {
    if (removeSharedWorker) Reflect.deleteProperty(globalThis, 'SharedWorker')
    forcedMode = mode
  })
  afterAll(() => {
    globalThis.SharedWorker = original
    forcedMode = undefined
  })
  it('runs the hub where this mode says', () => {
    expect(relay().mode).toBe(expected)
  })

describe.each<TransportKind>(['eventsource', 'fetch'])('through the hub and the %s transport', (transport) => {
  it('delivers every event of a run once, in order, and ends on stream_end', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('session'), 'hello there', { tokens: 30, rate: 200 })
    await hub.open({ runId: run.streamId, sessionId: run.sessionId, url: run.url, transport })
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.ended, { what: 'the run to end' })
    const sent = await finishedTranscript(run.streamId)
    expect(shape(seen.events)).toEqual(shape(sent))
    expect(sent.map((e) => e.event)).toContain('done')
    expect(sent.at(-1)?.event).toBe('stream_end')
    expect(seen.events.map((e) => e.seq)).toEqual(sent.map((_, i) => i + 1))
    await waitFor(async () => (await serverStats(run.streamId)).open === 0, { what: 'the server connection to close' })
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })

  it('catches up a subscriber that arrives mid-run, then streams live', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('session'), 'late comer', { tokens: 60, rate: 60 })
    await hub.open({ runId: run.streamId, sessionId: run.sessionId, url: run.url, transport })
    await waitFor(async () => (await serverStats(run.streamId)).lastSeq >= 15, { what: 'the run to be well under way' })
    const late = recorder()
    hub.subscribe({ sessionId: run.sessionId }, late.handlers)
    await waitFor(() => late.ended, { what: 'the run to end' })
    expect(shape(late.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(late.batches).toBeGreaterThan(1) // the catch-up came first, live batches followed
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })
})

describe('sharing one hub', () => {
  it('joins from a second relay in the same page: one server connection', async () => {
    const name = uniqueName('join')
    const [a, b] = [relay(name), relay(name)]
    expect((await a.ready).hubId).toBe((await b.ready).hubId)
    const run = await startRun(uniqueName('session'), 'joined', { tokens: 20, rate: 100 })
    const spec = { runId: run.streamId, sessionId: run.sessionId, url: run.url }
    await a.open(spec)
    await b.open(spec)
    const [seenA, seenB] = [recorder(), recorder()]
    a.subscribe({ runId: run.streamId }, seenA.handlers)
    b.subscribe({ runId: run.streamId }, seenB.handlers)
    await waitFor(() => seenA.ended && seenB.ended)
    const sent = shape(await finishedTranscript(run.streamId))
    expect(shape(seenA.events)).toEqual(sent)
    expect(shape(seenB.events)).toEqual(sent)
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })

})

describe('the bug this library ends', () => {
  it('switching A -> B -> A: A shows every token once, in order; one connection per run', async () => {
    const hub = relay()
    const sessionA = uniqueName('A')
    const sessionB = uniqueName('B')
    const runA = await startRun(sessionA, 'first chat', { tokens: 80, rate: 40 })
    await hub.open({ runId: runA.streamId, sessionId: sessionA, url: runA.url })

    // The one visible pane shows A, then the user switches to B and starts it.
    let pane = recorder()
    let stopPane = hub.subscribe({ sessionId: sessionA }, pane.handlers)
    await waitFor(() => pane.events.length >= 10, { what: 'A to stream into the pane' })
    stopPane()
    pane = recorder()
    stopPane = hub.subscribe({ sessionId: sessionB }, pane.handlers)
    const runB = await startRun(sessionB, 'second chat', { tokens: 40, rate: 40 })
    await hub.open({ runId: runB.streamId, sessionId: sessionB, url: runB.url })
    await waitFor(() => pane.events.length >= 10, { what: 'B to stream into the pane' })
    const bBefore = pane.events.length

    // Back to A while it is still running: the pane must show A whole, then keep filling live.
    stopPane()
    const paneA = recorder()
    hub.subscribe({ sessionId: sessionA }, paneA.handlers)
    expect((await serverStats(runA.streamId)).finished).toBe(false)
    await waitFor(() => paneA.ended, { what: 'A to end', timeoutMs: 15_000 })
    expect(shape(paneA.events)).toEqual(shape(await finishedTranscript(runA.streamId)))
    expect(bBefore).toBeGreaterThan(0)

    const statsA = await serverStats(runA.streamId)
    const statsB = await serverStats(runB.streamId)
    expect([statsA.opened, statsB.opened]).toEqual([1, 1])
  })

  it('registry: which sessions run, and which finished unwatched', async () => {
    const hub = relay()
    let runs: RunSummary[] = []
    hub.watchRuns((snapshot) => (runs = snapshot))
    const run = await startRun(uniqueName('session'), 'unwatched', { tokens: 10, rate: 200 })
    await hub.open({ runId: run.streamId, sessionId: run.sessionId, url: run.url })
    await waitFor(() => runs.find((r) => r.runId === run.streamId)?.status === 'ended')
    expect(runs.find((r) => r.runId === run.streamId)).toMatchObject({ sessionId: run.sessionId, finishedUnwatched: true, eventCount: (await finishedTranscript(run.streamId)).length })
  })
})
})

/**
 * Opens one run from this page and from another tab, both subscribed: both see the
 * server's transcript, through one hub and one server connection.
 */
async function expectOneConnectionAcrossTabs(here: RunRelay, tab: string, prompt: string) {
  const run = await startRun(uniqueName('session'), prompt, { tokens: 50, rate: 50 })
  const spec = { runId: run.streamId, sessionId: run.sessionId, url: run.url }
  await here.open(spec)
  const seen = recorder()
  here.subscribe({ runId: run.streamId }, seen.handlers)
  expect((await commands.evalInTab<{ hubId: string }>(tab, 'tab.diagnostics()')).hubId).toBe((await here.ready).hubId)
  await commands.evalInTab(tab, `tab.open(${JSON.stringify(spec)})`)
  await commands.evalInTab(tab, `tab.subscribe('a', { sessionId: ${JSON.stringify(run.sessionId)} })`)
  await waitFor(() => seen.ended)
  const sent = shape(await finishedTranscript(run.streamId))
  expect(shape((await endedInTab(tab, 'a')).events)).toEqual(sent)
  expect(shape(seen.events)).toEqual(sent)
  expect((await serverStats(run.streamId)).opened).toBe(1)
}

describe('across tabs (SharedWorker only)', () => {
  it('shares one server connection between two tabs', async () => {
    const name = uniqueName('tabs')
    const hub = relay(name)
    const other = await commands.openTab('/test/fixtures/tab.html')
    await commands.evalInTab(other, `tab.connect(${JSON.stringify(name)})`)
    await expectOneConnectionAcrossTabs(hub, other, 'two tabs')
    await commands.closeTab(other)
  })
})

describe('across tabs without SharedWorker (a leader tab runs the hub)', () => {
  const original = globalThis.SharedWorker
  beforeAll(() => Reflect.deleteProperty(globalThis, 'SharedWorker'))
  afterAll(() => {
    globalThis.SharedWorker = original
  })

  async function followerTab(name: string) {
    const tab = await commands.openTab('/test/fixtures/tab.html')
    await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)}, { noSharedWorker: true, livenessMs: 200, callTimeoutMs: 3000 })`)
    return tab
  }

  /** This page leads; a follower tab holds five tunnelled subscriptions through it. */
  async function followerWithTunnels(prefix: string) {
    const name = uniqueName(prefix)
    const here = relay(name)
    await here.ready
    const tab = await followerTab(name)
    const target = JSON.stringify({ runId: 'not-opened' })
    for (let i = 0; i < 5; i++) await commands.evalInTab(tab, `tab.subscribe('s${i}', ${target})`)
    expect(tunnelCount(`${name}@${PROTOCOL_VERSION}`)).toBe(5)
    return { name, here, tab }
  }

  it('shares one hub and one server connection between two tabs', async () => {
    const name = uniqueName('leader')
    const here = relay(name) // first: this page leads
    expect(here.mode).toBe('shared-tab')
    const tab = await followerTab(name)
    await expectOneConnectionAcrossTabs(here, tab, 'leader tab')
    await commands.closeTab(tab)
  })

  it('ends each tunnelled port with its subscription', async () => {
    const { name, tab } = await followerWithTunnels('tunnels')
    for (let i = 0; i < 5; i++) await commands.evalInTab(tab, `tab.unsubscribe('s${i}')`)
    await waitFor(() => tunnelCount(`${name}@${PROTOCOL_VERSION}`) === 0, { what: 'the tunnels to close' })
    await commands.closeTab(tab)
  })

  it('ends the tunnelled ports of a follower tab that closes, though it can no longer answer the release', async () => {
    const { name, here, tab } = await followerWithTunnels('tunnels-gone')
    await commands.closeTab(tab)
    await waitFor(() => tunnelCount(`${name}@${PROTOCOL_VERSION}`) === 0, { what: 'the tunnels of the closed tab to end' })
    expect((await here.diagnostics()).clients).toBe(1)
  })

  it('moves the hub to another tab when the leader tab closes, losing nothing', async () => {
    const name = uniqueName('failover')
    const tab = await followerTab(name) // first: that tab leads
    // The call deadline covers loading the hub module when this page takes over.
    const here = relay({ name, livenessMs: 200, callTimeoutMs: 3000 })
    const before = (await here.ready).hubId
    const run = await startRun(uniqueName('session'), 'leader goes away', { tokens: 80, rate: 40 })
    await here.open({ runId: run.streamId, sessionId: run.sessionId, url: run.url })
    const seen = recorder()
    here.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 10)

    await commands.closeTab(tab)
    await waitFor(() => seen.ended, { timeoutMs: 20_000, what: 'the run to end on the new leader' })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(seen.statuses).toContain('reconnecting')
    expect((await here.diagnostics()).hubId).not.toBe(before)
    expect((await serverStats(run.streamId)).opened).toBe(2)
  })
})
