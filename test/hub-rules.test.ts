import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, type FeedSpec, type RunSpec, type RunSummary } from '../src/index.ts'
import { defineInspector, type RunRelayInspector } from '../src/inspector.ts'
import type { RelayOptions, RunRelay } from '../src/relay-types.ts'
import { finishedTranscript, recorder, serverStats, shape, specOf, startRun, uniqueName, useRelays, waitFor, type StartedRun } from './helpers.ts'
import { engine, engineCan, killableRelay } from './engine.ts'

/** The hub's rules for bad input and contention (issue 16, part B), through a real SharedWorker against the dev chat server. */
const relay = useRelays('rules')
const fastReconnect = { baseMs: 20, maxMs: 200 }

/** A session channel of the dev chat server, as a feed. */
const sessionFeed = (sessionId: string): FeedSpec => ({
  feedId: sessionId,
  url: `/api/chat/session-events?session_id=${encodeURIComponent(sessionId)}`,
  announces: [{ event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }],
})

/** Console warnings printed while `body` runs. */
async function warningsDuring(body: () => Promise<unknown>): Promise<string[]> {
  const warnings: string[] = []
  const warn = console.warn
  console.warn = (message: string) => warnings.push(String(message))
  try {
    await body()
  } finally {
    console.warn = warn
  }
  return warnings
}

describe('subscriptions whose subscribe timed out', () => {
  // Keeping a SharedWorker's thread busy from outside needs the DevTools protocol.
  it(`are released by stop(): a busy hub answers after the deadline, and keeps none of them${engine === 'chromium' ? '' : ' (Chromium only: making the worker busy needs CDP)'}`, async ({ skip }) => {
    if (!(await engineCan('busySharedWorker'))) return skip('making a SharedWorker busy needs the DevTools protocol')
    const name = uniqueName('busy')
    const keeper = relay(name)
    const run = await startRun(uniqueName('s'), 'a hub busy with a flood', { tokens: 200, rate: 20 })
    await keeper.open(specOf(run))
    const hasty = relay({ name, callTimeoutMs: 200, livenessMs: 0 })
    await hasty.ready
    await commands.busySharedWorker(`${name}@${PROTOCOL_VERSION}`, 1000)
    const stops = Array.from({ length: 30 }, () => hasty.subscribe({ runId: run.streamId }, {}))
    const outcomes = await Promise.allSettled(stops.map((stop) => stop.ready))
    expect(outcomes.map((o) => o.status === 'rejected' && (o.reason as { code: string }).code)).toEqual(stops.map(() => 'timeout'))
    for (const stop of stops) stop()
    // Once the hub answers this relay again, it has handled every subscribe and stop sent before.
    await waitFor(() => hasty.diagnostics().then(() => true, () => false), { what: 'the hub to answer again' })
    const diagnostics = await keeper.diagnostics()
    expect(diagnostics.subscriptionsByClient[hasty.clientId]).toBe(0)
    expect(diagnostics.runs.find((r) => r.runId === run.streamId)?.subscriberCount).toBe(0)
  })
})

describe('the connection budget with feeds', () => {
  it('feeds never starve watched runs: one feed per pane, more panes than slots, every run ends whole', async () => {
    const name = uniqueName('feeds')
    const hub = relay({ name, hub: { connectionBudget: { http1: 2, http2: 2 } } })
    const sessions = [0, 1, 2].map(() => uniqueName('session'))
    for (const sessionId of sessions) await hub.openFeed(sessionFeed(sessionId))
    const runs = await Promise.all(sessions.map((sessionId, i) => startRun(sessionId, `pane ${i}`, { tokens: 20, rate: 50 })))
    const seen = runs.map(() => recorder())
    for (const [i, run] of runs.entries()) {
      await hub.open(specOf(run, { reconnect: fastReconnect }))
      hub.subscribe({ runId: run.streamId }, seen[i]!.handlers)
    }
    await waitFor(() => seen.every((s) => s.ended), { timeoutMs: 20_000, what: 'every watched run to end' })
    for (const [i, run] of runs.entries()) expect(shape(seen[i]!.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    // The feeds get their slots back once the runs are done.
    await waitFor(async () => (await hub.diagnostics()).feeds.filter((feed) => feed.connected).length === 2, { what: 'two feeds to hold the two slots' })
  })

  it('keeps feeds and runs apart: a run named feed:<feedId> does not share that feed\'s slot', async () => {
    const hub = relay({ hub: { connectionBudget: { http1: 1, http2: 1 } } })
    const sessionId = uniqueName('session')
    await hub.openFeed(sessionFeed(sessionId))
    await waitFor(async () => (await hub.diagnostics()).feeds[0]?.connected, { what: 'the feed to connect' })
    // Long enough to be still running once the feed's aborted request has cooled off (abortCooldownMs, 5 s).
    const run = await startRun(uniqueName('s'), 'named like a feed', { tokens: 400, rate: 40 })
    const runId = `feed:${sessionId}`
    await hub.open(specOf(run, { runId }))
    hub.subscribe({ runId }, recorder().handlers)
    const diagnostics = await waitFor(async () => {
      const d = await hub.diagnostics()
      return d.connections[runId] === 1 ? d : undefined
    }, { what: 'the watched run to hold the only slot' })
    expect(diagnostics.budget).toMatchObject({ limit: 1, open: 1 })
    expect(diagnostics.feeds[0]).toMatchObject({ status: 'parked', connected: false })
  })
})

describe('hub settings', () => {
  const refused = async (hub: RelayOptions['hub']) => {
    const tab = relay({ hub })
    const error = await tab.ready.then(() => new Error(`settings ${JSON.stringify(hub)} were accepted`), (error: Error) => error)
    await expect(tab.open({ runId: 'r', sessionId: 's', url: '/x' }), 'a later call').rejects.toMatchObject({ code: 'invalid_spec' })
    return error as Error & { code: string }
  }

  it('refuses invalid settings with a typed error that says how to fix the call, and applies none of them', async () => {
    const cases: Array<[unknown, string]> = [
      [{ allowedOrigins: 'https://api.example.com' }, 'allowedOrigins must be an array of origins'],
      [{ allowedOrigins: ['api.example.com'] }, "e.g. 'https://api.example.com'"],
      [{ allowedOrigins: ['https://api.example.com/v1'] }, 'scheme, host and port only'],
      [{ allowedOrigins: ['https://user:pw@api.example.com'] }, 'scheme, host and port only'],
      [{ connectionBudget: { http1: 0 } }, 'connectionBudget.http1 must be a whole number >= 1'],
      [{ connectionBudget: { http3: 2 } }, "connectionBudget has no 'http3'"],
      [{ maxEventsPerRun: 0 }, 'maxEventsPerRun must be a whole number >= 1'],
      [{ maxBytesPerRun: 1.5 }, 'maxBytesPerRun must be a whole number >= 1'],
      [{ retentionMs: -1 }, 'retentionMs must be a finite number of milliseconds >= 0'],
      [{ allowOrigins: [] }, "unknown setting 'allowOrigins'"],
    ]
    const name = uniqueName('settings')
    for (const [hub, message] of cases) {
      const error = await refused(hub as RelayOptions['hub'])
      expect(error, JSON.stringify(hub)).toMatchObject({ name: 'RelayError', code: 'invalid_spec' })
      expect(error.message).toContain(message)
    }
    // A valid part next to an invalid one is not applied either.
    const mixed = relay({ name, hub: { connectionBudget: { http1: 2 }, retentionMs: -1 } })
    await expect(mixed.ready).rejects.toMatchObject({ code: 'invalid_spec' })
    expect((await relay(name).ready).settings.connectionBudget.http1).toBe(4)
  })

  it('normalises allowedOrigins: a trailing slash or an uppercase scheme still matches', async () => {
    const other = location.origin.includes('localhost') ? location.origin.replace('localhost', '127.0.0.1') : location.origin.replace('127.0.0.1', 'localhost')
    const written = `${other.replace('http:', 'HTTP:')}/`
    const hub = relay({ hub: { allowedOrigins: [written] } })
    expect((await hub.ready).settings.allowedOrigins).toEqual([other])
    await expect(hub.open({ runId: uniqueName('r'), sessionId: 's', url: `${other}/api/chat/stream?stream_id=x`, preset: 'reference' })).resolves.toMatchObject({ status: expect.any(String) })
  })

  it('refuses a stream URL with user:pass@ as url_refused at open', async () => {
    const hub = relay()
    const url = `${location.protocol}//user:secret@${location.host}/api/chat/stream?stream_id=x`
    await expect(hub.open({ runId: uniqueName('r'), sessionId: 's', url })).rejects.toMatchObject({ code: 'url_refused', message: expect.stringContaining('credentials') })
    expect((await hub.diagnostics()).runs).toEqual([])
  })
})

describe('the same run opened with two URLs', () => {
  it('the first spec wins; the tab that joined with another URL gets a warning that says so', async () => {
    const name = uniqueName('conflict')
    const [first, second] = [relay(name), relay(name)]
    const run = await startRun(uniqueName('s'), 'two specs', { tokens: 30, rate: 60 })
    await first.open(specOf(run))
    const otherUrl = `${run.url}&tab=2`
    const warnings = await warningsDuring(() => second.open(specOf(run, { url: otherUrl })))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('first spec wins')
    expect(warnings[0]).toContain('tab=2')
    expect(await warningsDuring(() => second.open(specOf(run)))).toEqual([]) // the same URL joins quietly
    const seen = recorder()
    second.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.ended)
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })
})

describe('after a hub crash', () => {
  // Chromium kills the worker over the DevTools protocol; elsewhere it closes itself (test/engine.ts).
  it(`recover reopens only the runs still open: not those closed, ended or evicted${engine === 'chromium' ? '' : ' (the hub closes itself: no killing a worker outside Chromium)'}`, async () => {
    const name = uniqueName('recover')
    const { relay: here, kill } = await killableRelay(name, { livenessMs: 200, callTimeoutMs: 1000 })
    const firstHub = (await here.ready).hubId
    const live = await Promise.all([0, 1].map((i) => startRun(uniqueName('s'), `live ${i}`, { tokens: 80, rate: 40 })))
    const ended = await startRun(uniqueName('s'), 'ends early', { tokens: 5, rate: 100 })
    const evicted = await startRun(uniqueName('s'), 'ends and is evicted', { tokens: 5, rate: 100 })
    const closed = await startRun(uniqueName('s'), 'closed by the app', { tokens: 80, rate: 40 })
    for (const run of live) await here.open(specOf(run))
    await here.open(specOf(ended))
    await here.open(specOf(evicted, { retentionMs: 0 }))
    await here.open(specOf(closed))
    await here.close(closed.streamId)
    // The relay learns of ends and evictions from the hub's registry: wait until a snapshot has told
    // this page. Not the snapshot a new watch gets at once, which only this watch gets: the relay's
    // own watch hears the same runs only in the next throttled snapshot, which the hub sends to every
    // watch at once (a hub that vanishes before sending it costs one more connection: see docs/lifecycle.md).
    let registry: RunSummary[] = []
    let snapshots = 0
    const unwatch = here.watchRuns((runs) => ((registry = runs), snapshots++))
    await waitFor(() => {
      if (snapshots < 2) return false
      const status = (run: StartedRun) => registry.find((r) => r.runId === run.streamId)?.status
      return status(ended) === 'ended' && status(closed) === 'failed' && status(evicted) === undefined && status(live[0]!) !== undefined
    }, { what: 'one run to end, one to be closed and one to be evicted' })
    unwatch()
    const seen = live.map(() => recorder())
    live.forEach((run, i) => here.subscribe({ runId: run.streamId }, seen[i]!.handlers))
    await waitFor(() => seen.every((s) => s.events.length >= 5))

    const gone = { ended, evicted, closed }
    const connectionsOf = async () => Object.fromEntries(await Promise.all(Object.entries(gone).map(async ([what, run]) => [what, (await serverStats(run.streamId)).opened])))
    const before = await connectionsOf()

    await kill()
    await waitFor(() => seen.every((s) => s.ended), { timeoutMs: 20_000, what: 'the live runs to end on the new hub' })
    // Asked until it answers: the client's 1 s call deadline (short, for a fast recovery) can pass on a loaded machine.
    const { hubId, runs } = await waitFor(() => here.diagnostics(), { what: 'the new hub to answer diagnostics' })
    expect(hubId).not.toBe(firstHub)
    expect(runs.map((r) => r.runId).sort()).toEqual(live.map((r) => r.streamId).sort())
    expect(await connectionsOf()).toEqual(before) // none of them was opened again
    for (const [i, run] of live.entries()) expect(shape(seen[i]!.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })
})

describe('resumeUrl', () => {
  it('is resolved against the same base it was checked against: reconnects go where the check looked', async () => {
    // The first request goes to an allow-listed https origin that this plain-HTTP test server cannot
    // answer; the reconnect goes to `resumeUrl`, a scheme-relative URL. Against the base (this http
    // origin) it is the dev server; against `url` it would be an unchecked https origin.
    const other = location.hostname === 'localhost' ? '127.0.0.1' : 'localhost'
    const httpsOther = `https://${other}:${location.port}`
    const hub = relay({ hub: { allowedOrigins: [httpsOther] } })
    const run = await startRun(uniqueName('s'), 'resumed elsewhere', { tokens: 20, rate: 100 })
    const spec: RunSpec = specOf(run, {
      transport: 'fetch', url: `${httpsOther}${run.url}`, resumeUrl: `//${location.host}${run.url}`, reconnect: { ...fastReconnect, maxRetries: 3 },
    })
    await hub.open(spec)
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.finished, { timeoutMs: 15_000, what: 'the run to end or fail' })
    expect(seen.errors).toEqual([])
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })
})

describe('the inspector', () => {
  it('tails a run whose catch-up is one batch of 250,000 events', () => {
    const tag = uniqueName('inspector-tail')
    defineInspector(tag)
    const inspector = document.createElement(tag) as RunRelayInspector
    let deliver: (count: number) => void = () => {}
    inspector.relay = {
      subscribe: (_target, handlers) => {
        deliver = (count) => handlers.onEvents?.(Array.from({ length: count }, (_, i) => ({ seq: i + 1, type: 'token', data: `t${i + 1}` })), 'r')
        return Object.assign(() => {}, { ready: Promise.resolve() })
      },
      diagnostics: () => new Promise(() => {}),
    } as Partial<RunRelay> as RunRelay
    document.body.append(inspector)
    try {
      inspector.tailRun('r')
      deliver(250_000)
      const tail = [...inspector.shadowRoot!.querySelectorAll('[data-field=tail] li')].map((li) => li.textContent)
      expect(tail).toHaveLength(50)
      expect(tail.at(-1)).toContain('t250000')
      expect(tail[0]).toContain('t249951')
    } finally {
      inspector.remove()
    }
  })
})

describe('run ids in URLs', () => {
  it('the README example encodes the run id: an id with # and & reaches the server whole', async () => {
    const { sendMessage } = await import('../examples/plain.ts')
    const realFetch = globalThis.fetch
    // This dev server can name its streams with characters a URL must encode.
    globalThis.fetch = (input, init) => {
      if (String(input) !== '/api/chat/start') return realFetch(input, init)
      return realFetch(input, { ...init, body: JSON.stringify({ ...JSON.parse(String(init?.body)), stream_id_prefix: 'a#b&c=' }) })
    }
    const pane = document.createElement('div')
    const sessionId = uniqueName('encoded')
    let stop: () => void = () => {}
    try {
      stop = await sendMessage(sessionId, 'an id to encode', pane)
    } finally {
      globalThis.fetch = realFetch
    }
    await waitFor(() => pane.dataset.status === 'ended' || pane.dataset.status === 'failed', { what: 'the reply to end' })
    stop()
    expect(pane.title).toBe('')
    expect(pane.dataset.status).toBe('ended')
  })
})
