import { createParser } from 'eventsource-parser'
import { checkResponse } from './response-check.ts'
import { explainNetworkFailure } from './cors-check.ts'
import { cleanEndMayBeACut } from './engine-facts.ts'
import type { StreamAttempt, StreamHandlers, StreamRequest } from './transport.ts'

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
  return (request: StreamRequest, handlers: StreamHandlers): StreamAttempt => {
    const controller = new AbortController()
    let closed = false
    const drop: StreamHandlers['onDrop'] = (reason) => {
      if (closed) return
      closed = true
      controller.abort()
      handlers.onDrop(reason)
    }
    void (async () => {
      let response: Response
      try {
        response = await fetchImpl(request.url, {
          method: request.method,
          headers: { Accept: 'text/event-stream', ...request.headers },
          body: request.body,
          credentials: request.withCredentials ? 'include' : 'same-origin',
          cache: 'no-store',
          // A redirect is refused, not followed: a login redirect or another origin is never read as the stream.
          redirect: 'manual',
          signal: controller.signal,
        })
      } catch (error) {
        // No response at all: the network, or a CORS refusal the browser reports the same way.
        if (closed) return
        return drop(await explainNetworkFailure(request.url, error, fetchImpl))
      }
      if (closed) return
      const verdict = checkResponse(request.url, response)
      if (verdict.kind !== 'stream' || !response.body) {
        void response.body?.cancel().catch(() => {})
        return drop(verdict.kind === 'stream' ? { kind: 'http', status: response.status, message: `${request.url} answered ${response.status} without a body` } : verdict)
      }
      const encoding = response.headers.get('stream-sse-data-encoding')?.trim().toLowerCase()
      if (encoding !== undefined && encoding !== 'base64') {
        void response.body.cancel().catch(() => {})
        return drop({ kind: 'bad_response', message: `${request.url} answered with Stream-SSE-Data-Encoding: ${encoding}; only base64 is defined (Durable Streams)` })
      }
      handlers.onOpen()
      const { maxEventSize, events: names } = request
      const parser = createParser({
        maxBufferSize: maxEventSize,
        onEvent: (message) => {
          const type = message.event ?? 'message'
          if (closed || !(names === 'all' || names.includes(type) || type === 'message')) return
          const data = encoding === 'base64' && type === 'data' ? fromBase64(message.data) : message.data
          if (data === undefined) return drop({ kind: 'bad_response', message: `${request.url} declared Stream-SSE-Data-Encoding: base64 but sent a data event that is not base64: ${message.data.slice(0, 40)}` })
          handlers.onEvent(type, data, message.id || undefined)
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
        if (decoded.replaced > 0) handlers.onInvalidText?.(decoded.replaced)
        parser.feed(lines.normalize(decoded.text))
      }
      const rest = text.end()
      if (rest.replaced > 0) handlers.onInvalidText?.(rest.replaced)
      parser.feed(lines.normalize(rest.text))
      // [spec] At the end of the stream an event not yet dispatched (no blank line) is discarded: nothing to flush,
      // since `lineEnds` never leaves a line end held back in the parser.
      drop({ kind: 'closed', unverified: cleanEndMayBeACut() })
    })().catch((error: unknown) => drop({ kind: 'network', message: String(error) }))
    return {
      close() {
        const live = !closed
        closed = true
        controller.abort()
        return live
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
 * [spec] "Streams must be decoded using the UTF-8 decode algorithm": invalid bytes become U+FFFD
 * and the stream goes on, as EventSource does. A streaming decoder carries a sequence split across
 * chunks. `replaced`: how many U+FFFD the decoder made (one the server sent itself, as the bytes
 * EF BF BD, is not counted), for diagnostics.
 */
function utf8Stream() {
  const decoder = new TextDecoder('utf-8')
  /** U+FFFD the server sent as such, in the bytes of the last chunk and the split ones between chunks. */
  let tail: Uint8Array = new Uint8Array(0)
  const replacements = (text: string, bytes: Uint8Array): number => {
    if (!text.includes('\uFFFD')) return 0
    const joined = concat(tail, bytes)
    let sent = 0
    for (let i = 0; i + 2 < joined.length; i++) if (joined[i] === 0xef && joined[i + 1] === 0xbf && joined[i + 2] === 0xbd) sent++
    return Math.max(0, text.split('\uFFFD').length - 1 - sent)
  }
  return {
    decode(chunk: Uint8Array): { text: string; replaced: number } {
      const text = decoder.decode(chunk, { stream: true })
      const replaced = replacements(text, chunk)
      tail = chunk.slice(-2)
      return { text, replaced }
    },
    /** The end of the body: an unfinished sequence becomes U+FFFD. */
    end(): { text: string; replaced: number } {
      const text = decoder.decode()
      return { text, replaced: text.split('\uFFFD').length - 1 }
    },
  }
}

/**
 * [Durable Streams PROTOCOL.md 5.8] A base64 data event: its lines joined without their line ends,
 * decoded, and read as UTF-8 text (invalid bytes as U+FFFD). Undefined when it is not base64.
 */
function fromBase64(data: string): string | undefined {
  try {
    const binary = atob(data.replace(/[\r\n]/g, ''))
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return new TextDecoder('utf-8').decode(bytes)
  } catch {
    return undefined
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length)
  joined.set(a)
  joined.set(b, a.length)
  return joined
}
