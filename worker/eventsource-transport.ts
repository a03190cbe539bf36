import { STREAM_DEFAULTS } from './hub-options.ts'
import { explainNetworkFailure } from './cors-check.ts'
import { checkResponse } from './response-check.ts'
import type { DropReason, StreamAttempt, StreamHandlers, StreamRequest } from './transport.ts'

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
  return (request: StreamRequest, handlers: StreamHandlers): StreamAttempt => {
    const { withCredentials } = request
    const source = new EventSource(request.url, { withCredentials })
    let closed = false
    let opened = false
    let previousId = ''
    const forward = (event: Event) => {
      // The protocol's own `event: error` shares its name with the connection error event.
      if (closed || !(event instanceof MessageEvent)) return
      handlers.onEvent(event.type, event.data as string, freshId(event.lastEventId, previousId))
      previousId = event.lastEventId
    }
    // [spec] EventSource dispatches an event named X only to listeners of X; unnamed events are `message`.
    for (const name of request.events === 'all' ? ['message'] : request.events) source.addEventListener(name, forward)
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
        const live = !closed
        closed = true
        source.close()
        return live
      },
      async explainTimeout(timeout, waitMs) {
        // [webkit] WebKitGTK's EventSource, redirected to a port that refuses, neither opens nor
        // fails. Past the connect timeout, the probe tells a redirect or a status it hid; any other
        // answer is a silent connection like any other, retried as the timeout it is.
        closed = true
        source.close()
        const reason = await probe(request.url, withCredentials, fetchImpl, waitMs)
        return reason.kind === 'network' ? timeout : reason
      },
    }
  }
}

/**
 * The id an event brings, or `undefined` when it brings none. [spec] An event without an `id`
 * field carries the previous id on (the last event ID buffer is kept), so the same id twice in a
 * row on one connection is no new id. [firefox] After a bare `id` line in a block without data,
 * Firefox (ESR 153) keeps the previous id where the spec resets it to "" ("If the field value is
 * empty, set the last event ID buffer to the empty string"): read as a repeat, the next event
 * would be dropped as a duplicate of the one before it. Both read here as "no id", in every engine.
 */
function freshId(id: string, previousId: string): string | undefined {
  return id !== '' && id !== previousId ? id : undefined
}

/**
 * Learns the status a failed EventSource hid, reading only the headers, with the same
 * credentials as the source (a cookie-authenticated stream answers a probe without them
 * differently), and classified as the fetch transport classifies a response. It is a second
 * request per failed attempt: the price of a transport that hides the status.
 */
async function probe(url: string, withCredentials: boolean, fetchImpl: typeof fetch, waitMs: number = STREAM_DEFAULTS.probeTimeoutMs): Promise<DropReason> {
  const controller = new AbortController()
  const deadline = setTimeout(() => controller.abort(), Math.min(waitMs, STREAM_DEFAULTS.probeTimeoutMs)) // a server that never answers must not hold the run
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
    return controller.signal.aborted ? { kind: 'network', message: String(error) } : explainNetworkFailure(url, error, fetchImpl)
  } finally {
    clearTimeout(deadline)
  }
}
