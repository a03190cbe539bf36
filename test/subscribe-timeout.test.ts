import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION } from '../src/index.ts'
import { engine, engineCan } from './engine.ts'
import { specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** A subscribe that timed out on a busy hub, through a real SharedWorker against the dev chat server. */
const relay = useRelays('subscribe-timeout')

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
