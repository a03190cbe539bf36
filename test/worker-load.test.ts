import { afterEach, describe, expect, it, vi } from 'vitest'
import { RelayError } from '../src/index.ts'
import { finishedTranscript, recorder, serverStats, shape, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * A SharedWorker script that cannot run (a bundler that did not emit it, a 404, an HTML page
 * served in its place) is a typed outcome in under 2 s, not a 10 s `hello` timeout; `'auto'`
 * falls back to a hub in the page and goes on streaming.
 */
const relay = useRelays('worker-load')
const MISSING = '/no-such-dir/shared-worker-missing.js'
// The dev chat server answers JSON here: a script with a non-JavaScript MIME type.
const NOT_JAVASCRIPT = '/api/chat/stats'

afterEach(() => vi.restoreAllMocks())

describe("mode: 'shared-worker' and a worker script that does not load", () => {
  it.each([['a 404', MISSING], ['a JSON response (wrong MIME type)', NOT_JAVASCRIPT]])('fails fast on %s: worker_unavailable naming the URL and the fix', async (_label, workerUrl) => {
    // The dev server answers this URL once first: the first test of a fresh run met a cold Vite
    // server (10 s to the first answer in one CI run), and the claim here is the hub's detection.
    await fetch(workerUrl, { cache: 'no-store' })
    const hub = relay({ mode: 'shared-worker', workerUrl })
    const started = performance.now()
    const error = await hub.ready.then(() => undefined, (reason: unknown) => reason)
    expect(performance.now() - started).toBeLessThan(2000)
    expect(error).toBeInstanceOf(RelayError)
    expect((error as RelayError).code).toBe('worker_unavailable')
    expect((error as RelayError).message).toContain(workerUrl)
    expect((error as RelayError).message).toContain('workerUrl')
    // Every later call fails the same way at once, instead of waiting for a timeout.
    const run = await startRun(uniqueName('session'), 'never streamed', { tokens: 5, rate: 100 })
    await expect(hub.open(specOf(run))).rejects.toMatchObject({ code: 'worker_unavailable' })
  })
})

describe("mode: 'shared-worker' and a workerUrl factory that throws", () => {
  it('fails fast with worker_unavailable naming what it threw, having called it once', async () => {
    const factory = vi.fn((): string => {
      throw new Error('no CDN configured')
    })
    const hub = relay({ mode: 'shared-worker', workerUrl: factory })
    const error = await hub.ready.then(() => undefined, (reason: unknown) => reason)
    expect((error as RelayError).code).toBe('worker_unavailable')
    expect((error as RelayError).message).toContain('workerUrl() threw Error: no CDN configured')
    expect(factory).toHaveBeenCalledTimes(1)
  })
})

describe("mode: 'auto' and a worker script that does not load", () => {
  it('warns once, falls back to a hub in the page and streams the run whole', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const hub = relay({ workerUrl: MISSING })
    const run = await startRun(uniqueName('session'), 'fallback', { tokens: 30, rate: 200 })
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await hub.open(specOf(run))
    await waitFor(() => seen.ended, { what: 'the run to end in the fallback hub' })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect((await serverStats(run.streamId)).opened).toBe(1)
    expect(hub.mode).toBe('shared-tab')
    expect((await hub.ready).hubId).toBeTruthy()
    const warnings = warn.mock.calls.map((args) => String(args[0])).filter((message) => message.includes('run-relay'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(MISSING)
  })
})

describe('workerUrl', () => {
  it('as a factory, is where the SharedWorker comes from', async () => {
    // Vite's dev server serves the worker's source as a module worker at this URL.
    const factory = vi.fn(() => new URL('/worker/shared-worker.ts?worker_file&type=module', location.href))
    const hub = relay({ mode: 'shared-worker', workerUrl: factory })
    expect(factory).not.toHaveBeenCalled() // nothing connects before the first use
    const run = await startRun(uniqueName('session'), 'custom url', { tokens: 10, rate: 200 })
    const seen = recorder()
    hub.subscribe({ runId: run.streamId }, seen.handlers)
    await hub.open(specOf(run))
    await waitFor(() => seen.ended, { what: 'the run to end' })
    expect(shape(seen.events)).toEqual(shape(await finishedTranscript(run.streamId)))
    expect(factory).toHaveBeenCalledTimes(1) // once: where the worker comes from is what its errors name
    expect(hub.mode).toBe('shared-worker')
  })
})
