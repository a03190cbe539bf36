import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import type { RunRelay, RunSpec } from '../src/index.ts'
import { cutConnections, finishedTranscript, recorder, serverStats, setFaults, shape, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * Fresh headers from the page (`RelayOptions.headers`): a token that expires mid-run is renewed
 * before the reconnect, by a live tab that follows the run, and the run goes on from its cursor:
 * nothing lost, nothing doubled, no `failed` on the way.
 */
const relay = useRelays('headers')

async function tokenRun() {
  const run = await startRun(uniqueName('s'), 'a token expires', { tokens: 80, rate: 40, faults: { requireAuth: 'v1' } })
  const spec: RunSpec = { runId: run.streamId, sessionId: run.sessionId, url: run.url, preset: 'reference', headers: { Authorization: 'Bearer v1' }, reconnect: { baseMs: 20, maxMs: 100 } }
  /** The server now wants the new token, and cuts the run's connection: the hub must reconnect with it. */
  const expire = async () => {
    await setFaults(run.streamId, { requireAuth: 'v2' })
    await cutConnections(run.streamId)
  }
  return { run, spec, expire }
}

/** Opens a token run in `hub`, follows it, lets the token expire mid-run, and waits for the run to end or fail. */
async function expireMidRun(hub: RunRelay, beforeExpiry = () => {}) {
  const { run, spec, expire } = await tokenRun()
  await hub.open(spec)
  const seen = recorder()
  hub.subscribe({ runId: run.streamId }, seen.handlers)
  await waitFor(() => seen.events.length >= 10, { what: 'the first events' })
  beforeExpiry()
  await expire()
  await waitFor(() => seen.finished, { timeoutMs: 20_000, what: 'the run to end or fail' })
  return { run, seen }
}

describe('fresh headers from the page', () => {
  it('the tab that opened the run gives a fresh token before the reconnect', async () => {
    let token = 'v1'
    let asked = 0
    const hub = relay({ headers: () => (asked++, { Authorization: `Bearer ${token}` }) })
    const { run, seen } = await expireMidRun(hub, () => (token = 'v2'))
    expect(seen.statuses).not.toContain('failed')
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(asked).toBeGreaterThanOrEqual(1)
    expect((await serverStats(run.streamId)).opened).toBe(2)
  })

  it('a 401 on a reconnect asks once more: a tab whose token refreshes late still saves the run', async () => {
    const answers = ['v1', 'v2'] // asked before the reconnect: still the old token; asked after the 401: the new one
    const hub = relay({ headers: () => ({ Authorization: `Bearer ${answers.shift() ?? 'v2'}` }) })
    const { run, seen } = await expireMidRun(hub)
    expect(seen.errors).toEqual([])
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(answers).toEqual([])
  })

  it('without fresh headers, a 401 on the reconnect fails the run as auth, once', async () => {
    const { seen } = await expireMidRun(relay())
    expect(seen.errors.map((error) => error.code)).toEqual(['auth'])
  })

  it('the tab that opened the run is gone: another tab that follows it gives the token', async () => {
    const name = uniqueName('headers')
    let token = 'v1'
    const here = relay({ name, headers: () => ({ Authorization: `Bearer ${token}` }) })
    const { run, spec, expire } = await tokenRun()
    const opener = await commands.openTab('/test/fixtures/tab.html')
    await commands.evalInTab(opener, `tab.connect(${JSON.stringify(name)})`)
    await commands.evalInTab(opener, `tab.open(${JSON.stringify(spec)})`)
    const seen = recorder()
    here.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 10, { what: 'the first events' })
    await commands.closeTab(opener)
    await waitFor(async () => (await here.diagnostics()).clients === 1, { what: 'the hub to see the opener gone' })
    token = 'v2'
    await expire()
    await waitFor(() => seen.finished, { timeoutMs: 20_000, what: 'the run to end' })
    expect(seen.statuses).not.toContain('failed')
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })
})
