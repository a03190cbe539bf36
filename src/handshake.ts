import { RelayError } from './errors.ts'
import type { HubHello, HubSettings } from '../common/hub-wire.ts'
import { PROTOCOL_VERSION } from '../common/protocol-version.ts'

/**
 * What the page makes of the hub's answer to `hello`: a hub of another protocol version, or one
 * that refused this client's settings, fails `ready` and every call with a typed RelayError.
 */
export function checkHello(answer: HubHello, asked: HubSettings | undefined): HubHello {
  if (answer.protocolVersion !== PROTOCOL_VERSION) {
    throw new RelayError('version_mismatch', `The hub speaks protocol ${answer.protocolVersion}, this page ${PROTOCOL_VERSION}: reload the page.`)
  }
  // The hub checks the settings (worker/hub-settings.ts): invalid ones fail `ready` and every call, typed.
  if (answer.settingsError) throw new RelayError(answer.settingsError.code, answer.settingsError.message)
  warnOnSettingsConflict(asked, answer.settings)
  return answer
}

/** Another tab set the hub-wide settings first: say which ones are in force instead. */
function warnOnSettingsConflict(asked: HubSettings | undefined, inForce: Required<HubSettings>): void {
  if (!asked) return
  const differ: string[] = []
  for (const key of ['retentionMs', 'abortCooldownMs', 'maxEventsPerRun', 'maxBytesPerRun'] as const) {
    if (asked[key] !== undefined && asked[key] !== inForce[key]) differ.push(key)
  }
  const budget = asked.connectionBudget ?? {}
  if ((['http1', 'http2'] as const).some((kind) => budget[kind] !== undefined && budget[kind] !== inForce.connectionBudget[kind])) differ.push('connectionBudget')
  if (differ.length > 0) {
    console.warn(`run-relay: another tab set the hub's ${differ.join(', ')} first; in force: ${JSON.stringify(inForce)}. Give every tab the same hub settings.`)
  }
}

/**
 * The settings this page gives the hub, and its own origin among `http2Origins` when the page
 * itself came over HTTP/2 or 3 (its navigation entry says so): same-origin streams then get the
 * `http2` budget from the first open, not only once a stream has ended.
 */
export function settingsOfPage(settings: HubSettings | undefined): HubSettings | undefined {
  const navigation = globalThis.performance?.getEntriesByType?.('navigation')[0] as PerformanceNavigationTiming | undefined
  const protocol = navigation?.nextHopProtocol ?? ''
  if (!(protocol === 'h2' || protocol.startsWith('h3'))) return settings
  const origin = globalThis.location.origin
  return { ...settings, http2Origins: [...new Set([...(settings?.http2Origins ?? []), origin])] }
}
