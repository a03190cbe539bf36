import { listenedNames } from './server-contract.ts'
import { checkResponse } from './response-check.ts'
import type { DropReason, StreamConnection, StreamHandlers, StreamRequest } from './transport.ts'

/**
 * SSE over the native EventSource: GET only, cookies, no custom headers, and it
 * hides comments and the HTTP status. The hub owns reconnects (with its own
 * cursor), so the native auto-reconnect is cut short: on any error the source
 * is closed and the drop reported.
 *
 * What it cannot do, and why it is not the default (README, "Transports"): it follows redirects
 * without telling (the allow-list is checked on the URL asked for, not the one answered), and it
 * buffers a line without an end natively, beyond `maxEventSize` (only the silence watchdog ends it).
 */
export function createEventSourceTransport(options: { fetch?: typeof fetch } = {}) {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis)
  return (request: StreamRequest, handlers: StreamHandlers): StreamConnection => {
    const { spec } = request
    const withCredentials = spec.withCredentials ?? false
    const source = new EventSource(request.url, { withCredentials })
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
      if (!opened) void probe(request.url, withCredentials, fetchImpl).then(handlers.onDrop)
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

/**
 * Learns the status a failed EventSource hid, reading only the headers, with the same
 * credentials as the source (a cookie-authenticated stream answers a probe without them
 * differently), and classified as the fetch transport classifies a response. It is a second
 * request per failed attempt: the price of a transport that hides the status.
 */
async function probe(url: string, withCredentials: boolean, fetchImpl: typeof fetch): Promise<DropReason> {
  const controller = new AbortController()
  const deadline = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS) // a server that never answers must not hold the run
  try {
    const response = await fetchImpl(url, {
      headers: { Accept: 'text/event-stream', 'X-Run-Relay-Probe': '1' },
      credentials: withCredentials ? 'include' : 'same-origin',
      cache: 'no-store',
      redirect: 'manual',
      signal: controller.signal,
    })
    controller.abort()
    const verdict = checkResponse(url, response)
    return verdict.kind === 'stream' ? { kind: 'network', message: `${url} failed, then answered a probe normally` } : verdict
  } catch (error) {
    return { kind: 'network', message: String(error) }
  } finally {
    clearTimeout(deadline)
  }
}

const PROBE_TIMEOUT_MS = 5000
