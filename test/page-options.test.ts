import { describe, expect, it } from 'vitest'
import { finishedTranscript, recorder, serverStats, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** Hub-wide settings from the page, and closing a run: through a real SharedWorker. */
const relay = useRelays('options')

describe('hub settings from the page', () => {
  it('allowedOrigins: refused without, accepted with; tabs add their origins up', async () => {
    const other = location.origin.includes('localhost') ? location.origin.replace('localhost', '127.0.0.1') : location.origin.replace('127.0.0.1', 'localhost')
    const name = uniqueName('origins')
    const plain = relay(name)
    const spec = { runId: uniqueName('r'), sessionId: 's', url: `${other}/api/chat/stream?stream_id=x`, preset: 'reference' } as const
    await expect(plain.open(spec)).rejects.toMatchObject({ code: 'url_refused' })
    const allowing = relay({ name, hub: { allowedOrigins: [other] } })
    expect((await allowing.ready).settings.allowedOrigins).toEqual([other])
    await expect(plain.open(spec)).resolves.toMatchObject({ runId: spec.runId })
  })

  it('the connection budget: the first tab sets it, a later tab with others is told what is in force', async () => {
    const name = uniqueName('budget')
    const first = relay({ name, hub: { connectionBudget: { http1: 1 }, retentionMs: 60_000 } })
    expect((await first.ready).settings).toMatchObject({ connectionBudget: { http1: 1 }, retentionMs: 60_000 })
    const warnings: string[] = []
    const warn = console.warn
    console.warn = (message: string) => warnings.push(message)
    try {
      const second = relay({ name, hub: { connectionBudget: { http1: 3 } } })
      expect((await second.ready).settings.connectionBudget.http1).toBe(1)
    } finally {
      console.warn = warn
    }
    expect(warnings.join('\n')).toContain('connectionBudget')
    const runs = await Promise.all([0, 1].map((i) => startRun(uniqueName('s'), `budget ${i}`, { tokens: 40, rate: 40 })))
    for (const run of runs) await first.open(specOf(run))
    await waitFor(async () => (await first.diagnostics()).runs.filter((r) => r.status === 'parked').length === 1, { what: 'one run parked by a budget of 1' })
    expect(Object.values((await first.diagnostics()).connections).reduce((a, b) => a + b, 0)).toBe(1)
  })
})

describe('relay.close(runId)', () => {
  it('stops holding the connection before the end, for every tab; opening it again resumes it, losing nothing', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('s'), 'closed early', { tokens: 60, rate: 40 })
    await hub.open(specOf(run))
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await waitFor(() => seen.events.length >= 5)
    await hub.close(run.streamId)
    await waitFor(() => seen.errors.at(-1)?.code === 'closed', { what: 'the run to fail with closed' })
    await waitFor(async () => (await serverStats(run.streamId)).open === 0, { what: 'the server to see the connection closed' })
    await hub.open(specOf(run))
    await waitFor(() => seen.ended, { what: 'the re-opened run to end' })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
  })
})
