import { createParser } from 'eventsource-parser'
import { checkResponse } from './response-check.ts'
import { cleanEndMayBeACut } from './engine-facts.ts'
import type { StreamConnection, StreamHandlers, StreamRequest } from './transport.ts'

/** Options of the fetch transport. */
export interface FetchTransportOptions {
  fetch?: typeof fetch
}

/**
 * SSE over `fetch` + `eventsource-parser`: sees the HTTP status, every event and
 * every comment (heartbeats), and can send headers and a body. Memory per connection is
 * bounded: a line without an end is refused at the request's `maxEventSize` (the parser's buffer limit).
 */
export function createFetchTransport(options: FetchTransportOptions = {}) {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis)
  return (request: StreamRequest, handlers: StreamHandlers): StreamConnection => {
    const controller = new AbortController()
    let closed = false
    const drop: StreamHandlers['onDrop'] = (reason) => {
      if (closed) return
      closed = true
      controller.abort()
      handlers.onDrop(reason)
    }
    void (async () => {
      const response = await fetchImpl(request.url, {
        method: request.method,
        headers: { Accept: 'text/event-stream', ...request.headers },
        body: request.body,
        credentials: request.withCredentials ? 'include' : 'same-origin',
        cache: 'no-store',
        // A redirect is refused, not followed: a login redirect or another origin is never read as the stream.
        redirect: 'manual',
        signal: controller.signal,
      })
      if (closed) return
      const verdict = checkResponse(request.url, response)
      if (verdict.kind !== 'stream' || !response.body) {
        void response.body?.cancel().catch(() => {})
        return drop(verdict.kind === 'stream' ? { kind: 'http', status: response.status, message: `${request.url} answered ${response.status} without a body` } : verdict)
      }
      handlers.onOpen()
      const { maxEventSize, events: names } = request
      const parser = createParser({
        maxBufferSize: maxEventSize,
        onEvent: (message) => {
          const type = message.event ?? 'message'
          if (!closed && (names === 'all' || names.includes(type) || type === 'message')) handlers.onEvent(type, message.data, message.id || undefined)
        },
        onComment: () => closed || handlers.onComment(),
        onRetry: (ms) => closed || handlers.onRetry(ms),
        onError: (error) => {
          // [spec] unknown fields are ignored by the SSE spec; an invalid retry is ignored too.
          if (error.type === 'max-buffer-size-exceeded') drop({ kind: 'oversize', message: `An event or a line without an end exceeded the ${maxEventSize}-character limit` })
        },
      })
      const lines = lineEnds()
      const text = utf8Stream()
      const reader = response.body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (closed) return void reader.cancel().catch(() => {})
        if (done) break
        const decoded = text.decode(value)
        parser.feed(lines.normalize(decoded.text))
        if (decoded.invalid) {
          void reader.cancel().catch(() => {})
          return drop({ kind: 'bad_response', message: `${request.url} sent bytes that are not UTF-8; an event stream must be UTF-8` })
        }
      }
      // [spec] At the end of the stream an event not yet dispatched (no blank line) is discarded: nothing to flush,
      // since `lineEnds` never leaves a line end held back in the parser.
      drop({ kind: 'closed', unverified: cleanEndMayBeACut() })
    })().catch((error: unknown) => drop({ kind: 'network', message: String(error) }))
    return {
      close() {
        closed = true
        controller.abort()
      },
    }
  }
}

/**
 * [spec] CR, LF and CRLF all end a line. A chunk ending in CR may be the first half of a CRLF, so
 * eventsource-parser holds it back until the next chunk: with CR-only line endings every event
 * would wait for the next chunk, and the last one (the end event) for ever. So every line end is
 * made an LF here, at once (data cannot hold a CR: it ends the line), and an LF that opens the
 * next chunk after a CR is dropped as the second half of its CRLF.
 */
function lineEnds() {
  let afterCR = false
  return {
    normalize(chunk: string): string {
      if (chunk === '') return chunk // a chunk the decoder held whole: a pending CR stays pending
      const text = afterCR && chunk.startsWith('\n') ? chunk.slice(1) : chunk
      afterCR = text.endsWith('\r')
      return text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text
    },
  }
}

/**
 * [spec] An event stream is UTF-8; a body that is not is refused, typed, rather than turned into
 * U+FFFD. A streaming fatal decoder carries a sequence split across chunks; when a chunk fails,
 * the text before its first bad byte (with the bytes the decoder held from the previous chunk) is
 * still returned, so every event before the bad bytes is kept.
 */
function utf8Stream() {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  /** The bytes of an incomplete sequence at the end of the last chunk, which the decoder holds. */
  let held: Uint8Array = new Uint8Array(0)
  return {
    decode(chunk: Uint8Array): { text: string; invalid: boolean } {
      try {
        const text = decoder.decode(chunk, { stream: true })
        held = incompleteTail(held.length > 0 && chunk.length < 4 ? concat(held, chunk) : chunk)
        return { text, invalid: false }
      } catch {
        const bytes = concat(held, chunk)
        return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, validPrefix(bytes)), { stream: true }), invalid: true }
      }
    },
  }
}

/** The length of the longest prefix of `bytes` that is UTF-8 (an incomplete last sequence counts). Bisection: any prefix of such a prefix is one too. */
function validPrefix(bytes: Uint8Array): number {
  let good = 0
  let bad = bytes.length
  while (bad - good > 1) {
    const mid = (good + bad) >>> 1
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true })
      good = mid
    } catch {
      bad = mid
    }
  }
  return good
}

/** The trailing bytes of a sequence that `bytes` (valid UTF-8 so far) leaves unfinished. */
function incompleteTail(bytes: Uint8Array): Uint8Array {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!
    if ((byte & 0xc0) === 0x80) continue // a continuation byte: look further back for its lead
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    return needed > back ? bytes.slice(bytes.length - back) : new Uint8Array(0)
  }
  return new Uint8Array(0)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length)
  joined.set(a)
  joined.set(b, a.length)
  return joined
}
