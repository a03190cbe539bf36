import { listenedNames } from './server-contract.ts'
import type { StreamConnection, StreamHandlers, StreamRequest } from './transport.ts'

/**
 * SSE over the native EventSource: GET only, cookies, no custom headers, and it
 * hides comments and the HTTP status. The hub owns reconnects (with its own
 * cursor), so the native auto-reconnect is cut short: on any error the source
 * is closed and the drop reported.
 */
export function createEventSourceTransport(options: { fetch?: typeof fetch } = {}) {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis)
  return (request: StreamRequest, handlers: StreamHandlers): StreamConnection => {
    const { spec } = request
    const source = new EventSource(request.url, { withCredentials: spec.withCredentials ?? false })
    let closed = false
    let opened = false
    const forward = (event: Event) => {
      // The protocol's own `event: error` shares its name with the connection error event.
      if (!closed && event instanceof MessageEvent) handlers.onEvent(event.type, event.data as string, event.lastEventId || undefined)
    }
    // [spec] EventSource dispatches an event named X only to listeners of X; unnamed events are `message`.
    for (const name of listenedNames(request.contract)) source.addEventListener(name, forward)
    source.onopen = () => {
      opened = true
      if (!closed) handlers.onOpen()
    }
    source.onerror = (event) => {
      if (closed || event instanceof MessageEvent) return
      // [spec] readyState CLOSED after an error means "fail the connection": a non-200 status or a
      // wrong content type. A source that never opened may also have followed a redirect to a host
      // that refused it. The status is hidden either way, so a probe finds out what happened.
      closed = true
      source.close()
      if (!opened) void probe(request.url, fetchImpl).then(handlers.onDrop)
      else handlers.onDrop({ kind: 'closed' })
    }
    return {
      close() {
        closed = true
        source.close()
      },
    }
  }
}

/** Learns the status a failed EventSource hid, reading only the headers. */
async function probe(url: string, fetchImpl: typeof fetch) {
  const controller = new AbortController()
  const deadline = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS) // a server that never answers must not hold the run
  try {
    const response = await fetchImpl(url, { headers: { Accept: 'text/event-stream', 'X-Run-Relay-Probe': '1' }, cache: 'no-store', redirect: 'manual', signal: controller.signal })
    controller.abort()
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      return { kind: 'bad_response', message: `${url} redirects elsewhere (a login page?); stream URLs must answer with the stream itself` } as const
    }
    if (response.status !== 200) return { kind: 'http', status: response.status, message: `${url} answered ${response.status}` } as const
    if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
      return { kind: 'bad_response', message: `${url} answered 200 with ${response.headers.get('content-type') ?? 'no content type'}, not text/event-stream (a login page?)` } as const
    }
    return { kind: 'network', message: `${url} failed, then answered a probe normally` } as const
  } catch (error) {
    return { kind: 'network', message: String(error) } as const
  } finally {
    clearTimeout(deadline)
  }
}

const PROBE_TIMEOUT_MS = 5000
