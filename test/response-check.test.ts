import { describe, expect, it } from 'vitest'
import { checkResponse, MAX_RETRY_AFTER_MS, retryAfterOf } from '../worker/response-check.ts'

/** The one classification of a stream's response head (pure): both transports and the probe use it. */
const head = (status: number, headers: Record<string, string> = {}) => ({ status, statusText: '', type: 'basic' as ResponseType, headers: new Headers(headers) })

describe('checkResponse', () => {
  it('reads text/event-stream whatever its case, with a UTF-8 charset or none', () => {
    for (const type of ['text/event-stream', 'Text/Event-Stream', ' text/event-stream ; charset=UTF-8', 'text/event-stream;charset="utf-8"']) {
      expect(checkResponse('/s', head(200, { 'Content-Type': type })), type).toEqual({ kind: 'stream' })
    }
  })

  it('refuses other types and charsets, 304 and redirects as bad_response', () => {
    for (const type of ['text/html', 'text/event-streamX', 'text/event-stream; charset=latin1', 'text/event-stream; charset=utf-16']) {
      expect(checkResponse('/s', head(200, { 'Content-Type': type })).kind, type).toBe('bad_response')
    }
    expect(checkResponse('/s', head(200)).kind).toBe('bad_response')
    expect(checkResponse('/s', head(304))).toMatchObject({ kind: 'bad_response', message: expect.stringContaining('304 Not Modified') })
    expect(checkResponse('/s', { ...head(0), type: 'opaqueredirect' })).toMatchObject({ kind: 'bad_response', message: expect.stringContaining('redirects') })
  })

  it('passes a refused status on with its Retry-After', () => {
    expect(checkResponse('/s', head(503, { 'Retry-After': '2' }))).toMatchObject({ kind: 'http', status: 503, retryAfterMs: 2000 })
    expect(checkResponse('/s', head(404))).not.toHaveProperty('retryAfterMs')
  })
})

describe('retryAfterOf', () => {
  const now = Date.parse('2026-12-01T12:00:00Z')
  it('reads seconds and HTTP dates, capped at MAX_RETRY_AFTER_MS', () => {
    expect(retryAfterOf('3', now)).toBe(3000)
    expect(retryAfterOf('120', now)).toBe(MAX_RETRY_AFTER_MS)
    expect(retryAfterOf('Tue, 01 Dec 2026 12:00:05 GMT', now)).toBe(5000)
    expect(retryAfterOf('Tue, 01 Dec 2026 11:00:00 GMT', now)).toBe(0)
    expect(retryAfterOf('soon', now)).toBeUndefined()
    expect(retryAfterOf(null, now)).toBeUndefined()
  })
})
