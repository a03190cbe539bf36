import { describe, expect, it } from 'vitest'
import type { RunSpec } from '../common/model.ts'
import { HUB_DEFAULTS, STREAM_DEFAULTS } from '../worker/hub-options.ts'
import { resolveRun } from '../worker/resolve-run.ts'

/** A spec resolved once per open (worker/resolve-run.ts). Pure. */

describe('resolveRun', () => {
  const settings = { ...HUB_DEFAULTS, allowedOrigins: ['https://api.example'] }
  const base = 'https://app.example/chat/page'

  it('resolves a spec once: contract, absolute URLs against one base, limits and timeouts from the hub settings', () => {
    const resolved = resolveRun({ runId: 'r', sessionId: 's', url: 'api/stream?id=r', resumeUrl: 'resume?id=r', preset: 'reference', method: 'POST', body: '{}' }, settings, base)
    if ('type' in resolved) throw new Error(resolved.message)
    expect(resolved.urls.url.href).toBe('https://app.example/chat/api/stream?id=r')
    expect(resolved.urls.resumeUrl?.href).toBe('https://app.example/chat/resume?id=r') // against the page, not the stream URL
    expect(resolved.contract).toMatchObject({ ids: 'seq', transport: 'fetch', resume: { kind: 'query', param: 'after_seq', value: 'seq' } })
    expect(resolved).toMatchObject({ method: 'POST', body: '{}', headers: {}, withCredentials: false, maxEventSize: HUB_DEFAULTS.maxEventSize })
    expect(resolved.timeouts).toEqual({ connectMs: STREAM_DEFAULTS.connectTimeoutMs, silenceMs: HUB_DEFAULTS.silenceTimeoutMs.fetch, stalledMs: HUB_DEFAULTS.silenceTimeoutMs.fetch / 2, healthyMs: undefined })
    expect(resolved.reconnect).toEqual({ backoff: HUB_DEFAULTS.backoff, maxRetries: HUB_DEFAULTS.maxRetries, maxServerErrors: HUB_DEFAULTS.maxServerErrors })
    expect(resolved.logLimits).toEqual({ maxEvents: HUB_DEFAULTS.maxEventsPerRun, maxBytes: HUB_DEFAULTS.maxBytesPerRun })
  })

  it('lets the spec override every default it names, and picks the silence timeout of its transport', () => {
    const resolved = resolveRun({
      runId: 'r', sessionId: 's', url: '/s', transport: 'eventsource', maxEventSize: 10, connectTimeoutMs: 7,
      reconnect: { baseMs: 1, maxRetries: 2, maxServerErrors: 1 }, logLimits: { maxEvents: 3 }, withCredentials: true, stalledAfterMs: 5,
    }, settings, base)
    if ('type' in resolved) throw new Error(resolved.message)
    expect(resolved).toMatchObject({ maxEventSize: 10, withCredentials: true, timeouts: { connectMs: 7, silenceMs: HUB_DEFAULTS.silenceTimeoutMs.eventsource, stalledMs: 5 } })
    expect(resolved.reconnect).toEqual({ backoff: { ...HUB_DEFAULTS.backoff, baseMs: 1 }, maxRetries: 2, maxServerErrors: 1 })
    expect(resolved.logLimits).toEqual({ maxEvents: 3, maxBytes: HUB_DEFAULTS.maxBytesPerRun })
    expect(resolved.contract.events).toContain('token')
  })

  it('refuses what it cannot resolve, typed, with the resume URL checked by the same rules as the stream URL', () => {
    const refused = (spec: Partial<RunSpec>) => {
      const result = resolveRun({ runId: 'r', sessionId: 's', url: '/s', ...spec }, settings, base)
      return 'type' in result ? [result.code, result.message.slice(0, 16)] : 'resolved'
    }
    expect(refused({ url: 'https://api.example/s' })).toBe('resolved')
    expect(refused({ url: 'https://other.example/s' })).toEqual(['url_refused', 'https://other.ex'])
    expect(refused({ resumeUrl: 'https://other.example/s' })).toEqual(['url_refused', 'RunSpec.resumeUr'])
    // An empty resumeUrl would resolve to the page itself: refused, as an empty url is.
    expect(refused({ resumeUrl: '' })).toEqual(['invalid_spec', 'RunSpec.resumeUr'])
    expect(refused({ url: '' })).toEqual(['invalid_spec', 'RunSpec.url must'])
    expect(refused({ runId: '' })).toEqual(['invalid_spec', 'RunSpec.runId mu'])
    expect(refused({ preset: 'nope' as RunSpec['preset'] })).toEqual(['invalid_spec', "Unknown preset '"])
    expect(refused({ transport: 'eventsource', headers: { a: 'b' } })).toEqual(['invalid_spec', 'EventSource can '])
  })
})
