import { STREAM_DEFAULTS } from './hub-options.ts'
import type { DropReason } from './transport.ts'

/**
 * One classification of a stream's response head for both transports and the EventSource probe:
 * whether it is an event stream to read, or why not, typed. Reads the head only, never the body.
 */

/** The longest `Retry-After` the hub waits for (see `STREAM_DEFAULTS`). */
export const MAX_RETRY_AFTER_MS = STREAM_DEFAULTS.maxRetryAfterMs

/** What the check reads of a response (a fetch `Response` fits). */
export interface ResponseHead {
  status: number
  statusText: string
  type: ResponseType
  headers: Headers
}

export type ResponseVerdict = { kind: 'stream' } | DropReason

export function checkResponse(url: string, response: ResponseHead, now = Date.now()): ResponseVerdict {
  const { status } = response
  if (status === 304) {
    // The hub sends no validators (`cache: 'no-store'`), so a 304 comes from a cache or proxy that answers for the server.
    return { kind: 'bad_response', message: `${url} answered 304 Not Modified to a request without cache validators; a cache or proxy in front of the server answers for it: have it pass event streams through (\`Cache-Control: no-store\` on the stream)` }
  }
  if (response.type === 'opaqueredirect' || (status >= 300 && status < 400)) {
    return { kind: 'bad_response', message: `${url} redirects elsewhere (a login page?); stream URLs must answer with the stream itself` }
  }
  if (status !== 200) {
    const reason: DropReason = { kind: 'http', status, message: `${url} answered ${status} ${response.statusText}`.trimEnd() }
    const retryAfterMs = retryAfterOf(response.headers.get('retry-after'), now)
    if (retryAfterMs !== undefined) reason.retryAfterMs = retryAfterMs
    return reason
  }
  const contentType = response.headers.get('content-type')
  const problem = eventStreamProblem(contentType)
  if (problem) return { kind: 'bad_response', message: `${url} answered 200 with ${contentType ? `Content-Type: ${contentType}` : 'no content type'}: ${problem}` }
  return { kind: 'stream' }
}

/**
 * [mimesniff] A MIME type's essence is case-insensitive, and so are parameter names; `charset`'s
 * value too. [spec] An event stream is always UTF-8: a declared charset other than UTF-8 would
 * be decoded wrongly, so it is refused rather than read.
 */
function eventStreamProblem(contentType: string | null): string | undefined {
  if (!contentType) return 'not text/event-stream (a login page?)'
  const [essence = '', ...parameters] = contentType.split(';')
  if (essence.trim().toLowerCase() !== 'text/event-stream') return 'not text/event-stream (a login page?)'
  for (const parameter of parameters) {
    const at = parameter.indexOf('=')
    if (at < 0 || parameter.slice(0, at).trim().toLowerCase() !== 'charset') continue
    const charset = parameter.slice(at + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8') return `an event stream is UTF-8; send charset=utf-8 or none, not ${charset}`
  }
  return undefined
}

/** [RFC 9110 §10.2.3] `Retry-After`: delay-seconds or an HTTP-date, in ms from now, at most `MAX_RETRY_AFTER_MS`. */
export function retryAfterOf(value: string | null, now: number): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms))
}
