import { describe, expect, it } from 'vitest'
import { type FeedSpec, type RunSpec, type RunSummary } from '../src/index.ts'
import { commands } from 'vitest/browser'
import { finishedTranscript, recorder, serverStats, shape, specOf as startedSpec, startRun, uniqueName, useRelays, waitFor, type StartedRun } from './helpers.ts'

/*
 * In a file of its own: a browser context per file. Earlier tests' hubs keep their unfinished runs
 * (by design: a hub holds a run to its end) and live as long as the test page does, so in a shared
 * page their connections count against the browser's 6 per origin and stall the page's requests.
 */
const relay = useRelays('budget')
const specOf = (run: StartedRun, extra: Partial<RunSpec> = {}): RunSpec => startedSpec(run, { reconnect: { baseMs: 20, maxMs: 200 }, ...extra })

describe('connection budget', () => {
  it('8 concurrent runs across 2 tabs: page requests stay fast, every transcript is whole', async () => {
    const name = uniqueName('budget')
    const hub = relay(name)
    let registry: RunSummary[] = []
    let everParked = 0
    hub.watchRuns((snapshot) => {
      registry = snapshot
      everParked = Math.max(everParked, snapshot.filter((r) => r.status === 'parked').length)
    })

    const tab = await commands.openTab('/test/fixtures/tab.html')
    await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)})`)
    // Started once both tabs are ready: on a loaded machine, setting up can take longer than a run lasts
    // on the server, and a run replayed after its end streams too briefly to measure anything.
    const runs: StartedRun[] = []
    // 10 s a run: setting up 8 runs over 2 tabs took more than 4 s on a loaded machine, and runs that end
    // before the first probe measure nothing (the count of probes below then fails, rightly).
    for (let i = 0; i < 8; i++) runs.push(await startRun(uniqueName(`s${i}`), `budget run ${i}`, { tokens: 100, rate: 10 }))
    for (const run of runs.slice(0, 4)) await hub.open(specOf(run))
    for (const run of runs.slice(4)) await commands.evalInTab(tab, `tab.open(${JSON.stringify(specOf(run))})`)
    const watchedHere = recorder()
    hub.subscribe({ runId: runs[0]!.streamId }, watchedHere.handlers)
    await commands.evalInTab(tab, `tab.subscribe('w', { runId: ${JSON.stringify(runs[7]!.streamId)} })`)

    // Ordinary requests from both pages while the runs stream, until every run has ended.
    const timings: number[] = []
    await waitFor(async () => {
      const started = performance.now()
      await fetch('/api/chat/stats?stream_id=none', { cache: 'no-store' })
      timings.push(performance.now() - started)
      timings.push(await commands.evalInTab<number>(tab, `(async () => { const t = performance.now(); await fetch('/api/chat/stats?stream_id=none', { cache: 'no-store' }); return performance.now() - t })()`))
      return registry.length === 8 && registry.every((r) => r.status === 'ended')
    }, { timeoutMs: 60_000, intervalMs: 50, what: 'all 8 runs to end' })
    expect(timings.length).toBeGreaterThan(20)
    expect(Math.max(...timings)).toBeLessThan(1000)
    expect(everParked).toBeGreaterThan(0)
    for (const run of runs) {
      const seen = recorder()
      hub.subscribe({ runId: run.streamId }, seen.handlers)
      await waitFor(() => seen.ended)
      expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    }
    const open = Object.values((await hub.diagnostics()).connections).reduce((a, b) => a + b, 0)
    expect(open).toBe(0)
    await commands.closeTab(tab)
  }, 90_000)
})

describe('aborted sockets', () => {
  it("open/close churn of one run never stalls the page's own requests, and the server never sees more than the budget", async () => {
    const hub = relay()
    // A keep-alive server (the Durable Streams reference server): an aborted response's socket is what the browser holds on to.
    const name = uniqueName('churn')
    await fetch(`/ds-produce?stream=${name}&count=4000&everyMs=5`, { method: 'POST' })
    const spec: RunSpec = { runId: name, sessionId: name, url: `/ds/v1/stream/${name}`, preset: 'durable-streams' }
    const timings: number[] = []
    for (let i = 0; i < 200; i++) {
      await hub.open(spec)
      await hub.close(name) // at once: the request has just been sent
      const started = performance.now()
      await fetch('/api/chat/stats?stream_id=none', { cache: 'no-store' })
      timings.push(performance.now() - started)
    }
    expect(Math.max(...timings), `page requests: ${timings.map(Math.round).join(' ')}`).toBeLessThan(1000)
    const { budget } = await hub.diagnostics()
    const { maxOpen } = (await (await fetch(`/ds-log?stream=${name}`)).json()) as { maxOpen: number }
    expect(maxOpen, 'SSE sockets open at once, as the server saw them').toBeLessThanOrEqual(budget.limit)
  }, 120_000)
})

/** The way docs/server-contract.md follows a session's server-started runs: one feed of its channel. */
const sessionFeed = (sessionId: string): FeedSpec => ({
  feedId: `session:${sessionId}`,
  url: `/api/chat/session-events?session_id=${encodeURIComponent(sessionId)}`,
  announces: [{ event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }],
})

describe('feeds never starve runs', () => {
  /**
   * Two tabs, 8 running chats (each tab opens 4 before its panes subscribe, as a page restoring its
   * chats does), a session pane per chat, and one feed per tab, as the README shows; optionally the
   * second tab closes mid-run. Every run ends whole, with the hub's default budget and reconnects.
   */
  async function eightChats(closeTabMidRun: boolean) {
    const name = uniqueName('feeds')
    const hub = relay(name)
    const tab = await commands.openTab('/test/fixtures/tab.html')
    await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)})`)
    const sessions = Array.from({ length: 8 }, (_, i) => uniqueName(`chat${i}`))
    await hub.openFeed(sessionFeed(sessions[0]!))
    await commands.evalInTab(tab, `tab.openFeed(${JSON.stringify(sessionFeed(sessions[4]!))})`)
    const runs: StartedRun[] = []
    for (const [i, sessionId] of sessions.entries()) runs.push(await startRun(sessionId, `chat ${i}`, { tokens: 60, rate: 15 }))
    const specs = runs.map((run) => startedSpec(run))
    for (const spec of specs.slice(0, 4)) await hub.open(spec)
    for (const spec of specs.slice(4)) await commands.evalInTab(tab, `tab.open(${JSON.stringify(spec)})`)
    const panes = runs.slice(0, 4).map(() => recorder())
    for (const [i, run] of runs.slice(0, 4).entries()) hub.subscribe({ sessionId: run.sessionId }, panes[i]!.handlers)
    for (const [i, run] of runs.slice(4).entries()) await commands.evalInTab(tab, `tab.subscribe('pane${i}', { sessionId: ${JSON.stringify(run.sessionId)} })`)
    if (closeTabMidRun) {
      await waitFor(() => panes.some((pane) => pane.events.length >= 5), { what: 'the runs to stream' })
      await commands.closeTab(tab)
    }
    let registry: RunSummary[] = []
    const stop = hub.watchRuns((snapshot) => (registry = snapshot))
    await waitFor(() => runs.every((run) => registry.find((r) => r.runId === run.streamId)?.status === 'ended'), { timeoutMs: 60_000, what: 'all 8 runs to end' })
      .catch(async (error: Error) => {
        throw new Error(`${error.message}; diagnostics: ${JSON.stringify(await hub.diagnostics())}`)
      })
    stop()
    for (const [i, pane] of panes.entries()) expect(shape(pane.events)).toEqual(shape(await finishedTranscript(runs[i]!.streamId)))
    for (const run of runs) {
      const seen = recorder()
      hub.subscribe({ runId: run.streamId }, seen.handlers)
      await waitFor(() => seen.ended)
      expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    }
    if (!closeTabMidRun) await commands.closeTab(tab)
  }

  it('2 tabs, 8 running chats, a session pane each, one feed per tab: every run ends whole', () => eightChats(false), 90_000)
  it('the same, and one tab closes mid-run: every run ends whole', () => eightChats(true), 90_000)
})
