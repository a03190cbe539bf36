import { createParser } from 'eventsource-parser'
import type { StreamConnection, StreamHandlers, StreamRequest } from './transport.ts'

/** Options of the fetch transport. */
export interface FetchTransportOptions {
  /** The largest event (its buffered lines) the parser accepts, in characters. */
  maxEventSize: number
  fetch?: typeof fetch
}

/**
 * SSE over `fetch` + `eventsource-parser`: sees the HTTP status, every event and
 * every comment (heartbeats), and can send headers and a body.
 */
export function createFetchTransport(options: FetchTransportOptions) {
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
    const { spec } = request
    void (async () => {
      const response = await fetchImpl(request.url, {
        method: request.method,
        headers: { Accept: 'text/event-stream', ...spec.headers, ...request.headers },
        body: request.body,
        credentials: spec.withCredentials ? 'include' : 'same-origin',
        cache: 'no-store',
        // A redirect is refused, not followed: a login redirect or another origin is never read as the stream.
        redirect: 'manual',
        signal: controller.signal,
      })
      if (closed) return
      if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
        return drop({ kind: 'bad_response', message: `${request.url} redirects elsewhere (a login page?); stream URLs must answer with the stream itself` })
      }
      const contentType = response.headers.get('content-type') ?? ''
      if (response.status === 200 && !contentType.startsWith('text/event-stream')) {
        void response.body?.cancel().catch(() => {})
        return drop({ kind: 'bad_response', message: `${request.url} answered 200 with ${contentType || 'no content type'}, not text/event-stream (a login page?)` })
      }
      if (response.status !== 200 || !response.body) {
        void response.body?.cancel().catch(() => {})
        return drop({ kind: 'http', status: response.status, message: `${request.url} answered ${response.status} ${response.statusText}` })
      }
      handlers.onOpen()
      const maxEventSize = spec.maxEventSize ?? options.maxEventSize
      const parser = createParser({
        maxBufferSize: maxEventSize,
        onEvent: (message) => {
          const type = message.event ?? 'message'
          const names = request.contract.events
          if (!closed && (!names || names.includes(type) || type === 'message')) handlers.onEvent(type, message.data, message.id || undefined)
        },
        onComment: () => closed || handlers.onComment(),
        onRetry: (ms) => closed || handlers.onRetry(ms),
        onError: (error) => {
          // [spec] unknown fields are ignored by the SSE spec; an invalid retry is ignored too.
          if (error.type === 'max-buffer-size-exceeded') drop({ kind: 'oversize', message: `An event exceeded the ${maxEventSize}-character limit` })
        },
      })
      // [spec] An event stream is UTF-8. A body that is not is refused, typed, rather than turned into U+FFFD.
      const decoder = new TextDecoder('utf-8', { fatal: true })
      const reader = response.body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (closed) return void reader.cancel().catch(() => {})
        if (done) break
        let text: string
        try {
          text = decoder.decode(value, { stream: true })
        } catch {
          // Events before the bad bytes are kept: feed the valid prefix, then refuse the rest.
          const lenient = new TextDecoder().decode(value)
          parser.feed(lenient.slice(0, lenient.indexOf('\uFFFD')))
          void reader.cancel().catch(() => {})
          return drop({ kind: 'bad_response', message: `${request.url} sent bytes that are not UTF-8; an event stream must be UTF-8` })
        }
        parser.feed(text)
      }
      drop({ kind: 'closed' })
    })().catch((error: unknown) => drop({ kind: 'network', message: String(error) }))
    return {
      close() {
        closed = true
        controller.abort()
      },
    }
  }
}
