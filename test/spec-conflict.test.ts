import { describe, expect, it } from 'vitest'
import { finishedTranscript, recorder, serverStats, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** A run joined with a spec other than the one that opened it, through a real SharedWorker against the dev chat server. */
const relay = useRelays('spec-conflict')

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
