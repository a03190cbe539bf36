import * as Comlink from 'comlink'
import { commands } from 'vitest/browser'
import { afterEach, describe, expect, it } from 'vitest'
import { RelayClient } from '../src/relay-client.ts'
import { PROTOCOL_VERSION, RelayError, type RunRelay } from '../src/index.ts'
import type { HubApi } from '../common/hub-wire.ts'
import { engine, engineCan, killableRelay } from './engine.ts'
import { endedInTab, finishedTranscript, recorder, serverStats, shape, specOf, startRun, uniqueName, useRelays, waitFor, type Rendered, type StartedRun } from './helpers.ts'

const relay = useRelays('lifecycle')
const relays: RunRelay[] = []
const tabs: string[] = []
afterEach(async () => {
  for (const r of relays.splice(0)) r.dispose()
  for (const tab of tabs.splice(0)) await commands.closeTab(tab).catch(() => {})
})

async function openTab(name: string, options: { extendedLifetime?: boolean; disposeOnPageHide?: boolean } = {}) {
  const tab = await commands.openTab('/test/fixtures/tab.html')
  tabs.push(tab)
  await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)}, ${JSON.stringify(options)})`)
  return tab
}


/**
 * A crash gives the hub no pagehide and no dispose(): only the tab's life lock, freed by the browser.
 * Chromium crashes the renderer (DevTools protocol); the other engines cannot crash a tab from
 * outside, so there the tab's relay ignores pagehide and the tab is closed: the hub learns it the
 * same way, from the lock alone.
 */
const crash = engine === 'chromium' ? 'crashed' : 'closed without pagehide (as a crash: no crashing a tab outside Chromium)'

describe('closed and crashed tabs', () => {
  for (const ending of ['closed', crash] as const) {
    it(`drops every subscription of a ${ending} tab; the run and the other tabs go on`, async () => {
      const name = uniqueName('tab-gone')
      const here = relay(name)
      // 4 s: still running after the tab steps, which take longer over WebDriver (WebKit).
      const run = await startRun(uniqueName('session'), `tab ${ending}`, { tokens: 160, rate: 40 })
      await here.open(specOf(run))
      const seen = recorder()
      here.subscribe({ runId: run.streamId }, seen.handlers)

      const crashes = ending !== 'closed'
      const tab = await openTab(name, crashes ? { disposeOnPageHide: false } : {})
      const tabClient = await commands.evalInTab<string>(tab, 'tab.clientId()')
      await commands.evalInTab(tab, `tab.subscribe('a', { runId: ${JSON.stringify(run.streamId)} })`)
      await commands.evalInTab(tab, `tab.subscribe('b', { sessionId: ${JSON.stringify(run.sessionId)} })`)
      expect((await here.diagnostics()).subscriptionsByClient[tabClient]).toBe(2)

      await (crashes && (await engineCan('crashTab')) ? commands.crashTab(tab) : commands.closeTab(tab))
      // No wall-clock deadline: a closed tab is released by its pagehide, a crashed one only by its life lock (the hub has no timer for clients).
      await waitFor(async () => (await here.diagnostics()).subscriptionsByClient[tabClient] === undefined, { what: 'the tab to be released' })

      expect((await here.diagnostics()).connections[run.streamId]).toBe(1)
      await waitFor(() => seen.ended)
      expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
      expect((await serverStats(run.streamId)).opened).toBe(1)
    })
  }

  it('keeps a run connected to its end after its last subscriber left', async () => {
    const name = uniqueName('orphan')
    const here = relay(name)
    // This page holds the hub while the other tab opens the run and closes: a relay connects on first
    // use, and without this the worker could end with the tab (Firefox ends it at once), taking the run.
    await here.ready
    const run = await startRun(uniqueName('session'), 'orphan', { tokens: 30, rate: 60 })
    const tab = await openTab(name)
    await commands.evalInTab(tab, `tab.open(${JSON.stringify(specOf(run))})`)
    await commands.evalInTab(tab, `tab.subscribe('a', { runId: ${JSON.stringify(run.streamId)} })`)
    await commands.closeTab(tab)
    await waitFor(async () => (await here.diagnostics()).runs.find((r) => r.runId === run.streamId)?.status === 'ended', { what: 'the run to end' })
    const late = recorder()
    here.subscribe({ runId: run.streamId }, late.handlers)
    await waitFor(() => late.ended)
    expect(shape(late.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })
})

describe('reloads', () => {
  /** Reloads the tab mid-run, resumes from what it rendered, and returns what it shows at the end. */
  async function reloadMidRun(tab: string, name: string, run: StartedRun, options: { extendedLifetime?: boolean }) {
    const spec = JSON.stringify(specOf(run))
    await commands.evalInTab(tab, `tab.follow('r', ${spec})`)
    await waitFor(() => commands.evalInTab<Rendered>(tab, `tab.rendered('r')`).then((r) => r.events.length >= 10), { what: 'some rendered events' })
    const before = await commands.evalInTab<{ hubId: string }>(tab, 'tab.diagnostics()')
    await commands.reloadTab(tab)
    await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)}, ${JSON.stringify(options)})`)
    const restored = await commands.evalInTab<number>(tab, `tab.follow('r', ${spec})`)
    const after = await commands.evalInTab<{ hubId: string }>(tab, 'tab.diagnostics()')
    await endedInTab(tab, 'r')
    const rendered = await commands.evalInTab<Rendered>(tab, `tab.rendered('r')`)
    return { sameHub: before.hubId === after.hubId, restored, rendered }
  }

  /** Without extendedLifetime the worker ends with its only tab: a new hub asks only for what the page had not rendered. */
  async function expectResumedByANewHub(run: StartedRun, reload: Awaited<ReturnType<typeof reloadMidRun>>) {
    expect(shape(reload.rendered.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(reload.sameHub).toBe(false)
    const stats = await serverStats(run.streamId)
    expect(stats.opened).toBe(2)
    expect(stats.cursors).toEqual(['after_seq=0', `after_seq=${reload.restored}`])
  }

  // Only Chromium (148+) has extendedLifetime; elsewhere the option is ignored, and the same reload takes the promised fallback.
  const extended = engine === 'chromium'
  it(extended
    ? 'with extendedLifetime, a reload of the only tab reattaches to the same hub and connection'
    : `with extendedLifetime asked for (${engine} has none: the fallback), a reload of the only tab resumes on a new hub from the rendered cursor, nothing doubled`, async () => {
    const name = uniqueName('reload-extended')
    const run = await startRun(uniqueName('session'), 'reload with extended lifetime', { tokens: 80, rate: 40 })
    const tab = await openTab(name, { extendedLifetime: true })
    const reload = await reloadMidRun(tab, name, run, { extendedLifetime: true })
    expect(reload.restored).toBeGreaterThanOrEqual(10)
    if (!extended) return expectResumedByANewHub(run, reload)
    expect(shape(reload.rendered.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(reload.sameHub).toBe(true)
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })

  it('without it, a new hub resumes from the rendered cursor: no doubled, no blank text', async () => {
    const name = uniqueName('reload-plain')
    const run = await startRun(uniqueName('session'), 'reload without extended lifetime', { tokens: 80, rate: 40 })
    const tab = await openTab(name, { extendedLifetime: false })
    await expectResumedByANewHub(run, await reloadMidRun(tab, name, run, { extendedLifetime: false }))
  })

  it('a reload after the run ended resumes from its end: the server answers 204, the run ends at once, nothing doubled or retried', async () => {
    // What a reload mid-run meets when the run ends before the page is back (a slow reload, a busy machine).
    const name = uniqueName('reload-after-end')
    const run = await startRun(uniqueName('session'), 'reload after the end', { tokens: 12, rate: 200 })
    const tab = await openTab(name, { extendedLifetime: false })
    const spec = JSON.stringify(specOf(run))
    await commands.evalInTab(tab, `tab.follow('r', ${spec})`)
    await endedInTab(tab, 'r')
    await commands.reloadTab(tab)
    await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)}, ${JSON.stringify({ extendedLifetime: false })})`)
    const restored = await commands.evalInTab<number>(tab, `tab.follow('r', ${spec})`)
    await endedInTab(tab, 'r')
    const rendered = await commands.evalInTab<Rendered>(tab, `tab.rendered('r')`)
    const transcript = await finishedTranscript(run.streamId)
    expect(restored).toBe(transcript.length)
    expect(shape(rendered.events)).toEqual(shape(transcript))
    const stats = await serverStats(run.streamId)
    expect(stats.cursors).toEqual(['after_seq=0', `after_seq=${restored}`])
    expect(stats.opened).toBe(2)
  })

  it('reloading one of two tabs never interrupts the other, and opens no new connection', async () => {
    const name = uniqueName('reload-one')
    const here = relay(name)
    const run = await startRun(uniqueName('session'), 'reload one of two', { tokens: 80, rate: 40 })
    await here.open(specOf(run))
    const seen = recorder()
    here.subscribe({ runId: run.streamId }, seen.handlers)
    const tab = await openTab(name)
    const { sameHub, rendered } = await reloadMidRun(tab, name, run, {})
    await waitFor(() => seen.ended)
    const sent = shape(await finishedTranscript(run.streamId))
    expect(sameHub).toBe(true)
    expect(shape(rendered.events)).toEqual(sent)
    expect(shape(seen.events)).toEqual(sent)
    expect(seen.statuses).not.toContain('reconnecting')
    expect((await serverStats(run.streamId)).opened).toBe(1)
  })
})

describe('a hub that vanished', () => {
  // Chromium kills the worker from outside (DevTools protocol), as a crash would; no other engine
  // can, so there the worker closes itself: to its tabs the hub is gone all the same.
  const how = engine === 'chromium' ? 'killed' : 'closed (by itself: no killing a worker outside Chromium)'
  it(`is replaced when its SharedWorker is ${how}: subscriptions resume from their cursors, nothing lost or doubled`, async () => {
    const name = uniqueName('killed')
    const { relay: here, kill } = await killableRelay(name, { livenessMs: 200, callTimeoutMs: 1000 })
    const before = (await here.ready).hubId
    const run = await startRun(uniqueName('session'), 'survive a dead worker', { tokens: 80, rate: 40 })
    await here.open(specOf(run))
    const byRun = recorder()
    const bySession = recorder()
    let registry: { runId: string; status: string }[] = []
    here.subscribe({ runId: run.streamId }, byRun.handlers)
    here.subscribe({ sessionId: run.sessionId }, bySession.handlers)
    here.watchRuns((runs) => (registry = runs))
    await waitFor(() => byRun.events.length >= 10 && bySession.events.length >= 10)

    await kill()
    await waitFor(() => byRun.ended && bySession.ended, { timeoutMs: 20_000, what: 'the run to end on the new hub' })
    const sent = shape(await finishedTranscript(run.streamId))
    expect(shape(byRun.events)).toEqual(sent)
    expect(shape(bySession.events)).toEqual(sent)
    expect(byRun.statuses).toContain('reconnecting')
    expect((await here.diagnostics()).hubId).not.toBe(before)
    await waitFor(() => registry.some((r) => r.runId === run.streamId && r.status === 'ended'), { what: 'the registry of the new hub' })
  })
})

describe('deploys', () => {
  it('puts the protocol version in the worker name: a build of another version never shares its hub', async () => {
    const name = uniqueName('skew')
    // The library's own worker script, so only the name can keep builds apart (a SharedWorker is
    // matched by script URL and name): one under the bare name, as a build without the version would
    // name it, and one under this version's name.
    const hubUnder = async (workerName: string) => {
      const worker = new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name: workerName })
      const hello = await Comlink.wrap<HubApi>(worker.port).hello(uniqueName('probe'), PROTOCOL_VERSION)
      worker.port.close()
      return hello.hubId
    }
    const unversioned = await hubUnder(name)
    const thisVersion = await hubUnder(`${name}@${PROTOCOL_VERSION}`)
    const { hubId } = await relay({ name, extendedLifetime: false }).ready
    expect(hubId).toBe(thisVersion) // the same script: the relay does reach a worker the test opened
    expect(hubId).not.toBe(unversioned)
  })

  it('turns a version mismatch in the handshake into a typed error, never a misparse', async () => {
    const old = new SharedWorker(new URL('./fixtures/old-hub.ts', import.meta.url), { type: 'module', name: uniqueName('old') })
    const client = new RelayClient(() => ({ hub: Comlink.wrap<HubApi>(old.port), close: () => old.port.close() }), { callTimeoutMs: 2000 })
    relays.push(client)
    await expect(client.ready).rejects.toMatchObject({ name: 'RelayError', code: 'version_mismatch' })
    await expect(client.open({ runId: 'r', sessionId: 's', url: '/x' })).rejects.toBeInstanceOf(RelayError)
  })
})

/** A hub nobody listens to: every call stays unanswered. */
function deadHub() {
  const { port1 } = new MessageChannel()
  return { hub: Comlink.wrap<HubApi>(port1), close: () => port1.close() }
}

describe('no hanging calls', () => {
  it('fails a call to a hub that never answers with a timeout', async () => {
    const client = new RelayClient(deadHub, { callTimeoutMs: 200 })
    relays.push(client)
    const started = performance.now()
    await expect(client.diagnostics()).rejects.toMatchObject({ code: 'timeout' })
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('rejects pending calls on dispose, and later calls at once', async () => {
    const client = new RelayClient(deadHub, { callTimeoutMs: 60_000 })
    const pending = client.diagnostics()
    client.dispose()
    await expect(pending).rejects.toMatchObject({ code: 'disposed' })
    await expect(client.open({ runId: 'r', sessionId: 's', url: '/x' })).rejects.toMatchObject({ code: 'disposed' })
  })
})
