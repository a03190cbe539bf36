import { RelayClient } from './relay-client.ts'
import { checkMode, hubRouteFor, inBrowser, type HubConnector } from './connectors.ts'
import { RelayError } from './errors.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'
import { RELAY_DEFAULTS, type RelayOptions, type RunRelay } from './relay-types.ts'

/**
 * Connects the page to the shared hub (a SharedWorker shared by all tabs of
 * the origin). Many panes per tab may subscribe through one relay.
 *
 * @example
 * const relay = createRunRelay()
 * await relay.open({ runId: streamId, sessionId, url: `/api/chat/stream?stream_id=${encodeURIComponent(streamId)}` })
 * const stop = relay.subscribe({ sessionId }, { onEvents: (events) => render(events) })
 */
export function createRunRelay(options: RelayOptions = {}): RunRelay {
  const name = `${options.name ?? RELAY_DEFAULTS.name}@${PROTOCOL_VERSION}`
  const mode = options.mode ?? RELAY_DEFAULTS.mode
  // Server rendering and prerendering create relays too (a module-level transport, a provider):
  // there nothing is checked or connected; the relay connects on first use, in a browser.
  if (inBrowser()) checkMode(mode)
  const route = hubRouteFor(mode, {
    name, extendedLifetime: options.extendedLifetime ?? RELAY_DEFAULTS.extendedLifetime, workerUrl: options.workerUrl,
  })
  const connect: HubConnector = () => {
    if (!inBrowser()) throw new RelayError('no_browser', 'run-relay connects to its hub in a browser only: call the relay from an effect or an event handler, not during server rendering.')
    checkMode(mode)
    return route.connect()
  }
  if (!(options.disposeOnPageHide ?? RELAY_DEFAULTS.disposeOnPageHide)) return new RelayClient(connect, options, () => route.mode)
  const onPageHide = () => relay.dispose()
  // Added on first connect, removed by dispose(): a relay per view (React effects) must not leave one per relay behind.
  const relay = new RelayClient(connect, options, () => route.mode, () => globalThis.removeEventListener?.('pagehide', onPageHide),
    () => globalThis.addEventListener?.('pagehide', onPageHide, { once: true }))
  return relay
}
