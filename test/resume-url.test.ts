import { describe, expect, it } from 'vitest'
import type { RunSpec } from '../src/index.ts'
import { finishedTranscript, recorder, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** Where a run's reconnects go (`RunSpec.resumeUrl`), through a real SharedWorker against the dev chat server. */
const relay = useRelays('resume-url')
const fastReconnect = { baseMs: 20, maxMs: 200 }

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
