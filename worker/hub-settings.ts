import type { RunError } from '../common/model.ts'
import type { HubSettings } from '../common/hub-wire.ts'
import type { HubOptions } from './hub-options.ts'

type SettingsOptions = Pick<HubOptions, 'allowedOrigins' | 'http2Origins' | 'connectionBudget' | 'abortCooldownMs' | 'retentionMs' | 'maxEventsPerRun' | 'maxBytesPerRun'>

/**
 * Applies a page's hub-wide settings to the hub's options, after checking them (an invalid set
 * applies none). Allowed origins add up; the other settings apply only while `first` (no page
 * has set them yet: see `HubSettings` for the rule when tabs disagree). `changed`: they did.
 */
export function applyHubSettings(options: SettingsOptions, given: unknown, first: boolean): { changed: boolean } | RunError {
  const settings = checkHubSettings(given)
  if ('type' in settings) return settings
  for (const origin of settings.allowedOrigins ?? []) if (!options.allowedOrigins.includes(origin)) options.allowedOrigins.push(origin)
  for (const origin of settings.http2Origins ?? []) if (!options.http2Origins.includes(origin)) options.http2Origins.push(origin)
  const { allowedOrigins: _, http2Origins: __, ...rest } = settings
  if (!first || Object.keys(rest).length === 0) return { changed: false }
  options.connectionBudget = { ...options.connectionBudget, ...rest.connectionBudget }
  if (rest.retentionMs !== undefined) options.retentionMs = rest.retentionMs
  if (rest.abortCooldownMs !== undefined) options.abortCooldownMs = rest.abortCooldownMs
  // Runs opened from now on are resolved with these; a run's log keeps the caps it was opened with.
  if (rest.maxEventsPerRun !== undefined) options.maxEventsPerRun = rest.maxEventsPerRun
  if (rest.maxBytesPerRun !== undefined) options.maxBytesPerRun = rest.maxBytesPerRun
  return { changed: true }
}

/** The hub-wide settings in force, as `hello` reports them (copies). */
export function settingsInForce(options: SettingsOptions): Required<HubSettings> {
  return {
    allowedOrigins: [...options.allowedOrigins], http2Origins: [...options.http2Origins], connectionBudget: { ...options.connectionBudget }, abortCooldownMs: options.abortCooldownMs, retentionMs: options.retentionMs,
    maxEventsPerRun: options.maxEventsPerRun, maxBytesPerRun: options.maxBytesPerRun,
  }
}

/**
 * Checks the hub-wide settings a page gives (`createRunRelay({ hub })`), in the hub, which applies
 * none of an invalid set. Every refusal says how to fix the call. Returns the settings
 * with `allowedOrigins` normalised to origins (`HTTPS://Api.example.com/` becomes
 * `https://api.example.com`), the form the hub compares stream URLs' origins with.
 */
export function checkHubSettings(settings: unknown): HubSettings | RunError {
  const invalid = (message: string): RunError => ({ type: 'error', code: 'invalid_spec', message: `Hub settings: ${message}` })
  if (settings === undefined) return {}
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    return invalid('`hub` must be an object, e.g. { allowedOrigins: [\'https://api.example.com\'] }.')
  }
  const given = settings as Record<string, unknown>
  for (const key of Object.keys(given)) {
    if (!(SETTING_NAMES as readonly string[]).includes(key)) return invalid(`unknown setting '${key}'; the settings are ${SETTING_NAMES.join(', ')}.`)
  }
  const checked: HubSettings = {}
  for (const key of ['allowedOrigins', 'http2Origins'] as const) {
    if (given[key] === undefined) continue
    const origins = originsOf(given[key], key)
    if (typeof origins === 'string') return invalid(origins)
    checked[key] = origins
  }
  if (given.connectionBudget !== undefined) {
    const budget = given.connectionBudget as Record<string, unknown> | null
    if (typeof budget !== 'object' || budget === null || Array.isArray(budget)) {
      return invalid('connectionBudget must be an object, e.g. { http1: 4, http2: 64 }.')
    }
    checked.connectionBudget = {}
    for (const [kind, value] of Object.entries(budget)) {
      if (kind !== 'http1' && kind !== 'http2') return invalid(`connectionBudget has no '${kind}'; give http1 and/or http2.`)
      if (!Number.isInteger(value) || (value as number) < 1) {
        return invalid(`connectionBudget.${kind} must be a whole number >= 1 (got ${JSON.stringify(value)}); with 0 every run would stay parked.`)
      }
      checked.connectionBudget[kind] = value as number
    }
  }
  for (const key of ['retentionMs', 'abortCooldownMs'] as const) {
    const value = given[key]
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      return invalid(`${key} must be a finite number of milliseconds >= 0 (got ${JSON.stringify(value)}).`)
    }
    checked[key] = value
  }
  for (const key of ['maxEventsPerRun', 'maxBytesPerRun'] as const) {
    const value = given[key]
    if (value === undefined) continue
    if (!Number.isInteger(value) || (value as number) < 1) return invalid(`${key} must be a whole number >= 1 (got ${JSON.stringify(value)}).`)
    checked[key] = value as number
  }
  return checked
}

const SETTING_NAMES = ['allowedOrigins', 'http2Origins', 'connectionBudget', 'abortCooldownMs', 'retentionMs', 'maxEventsPerRun', 'maxBytesPerRun'] as const satisfies ReadonlyArray<keyof HubSettings>

/** The origins of an `allowedOrigins` value, or what is wrong with it. */
function originsOf(value: unknown, key: 'allowedOrigins' | 'http2Origins'): string[] | string {
  if (!Array.isArray(value)) {
    return `${key} must be an array of origins, e.g. ['https://api.example.com'] (got ${JSON.stringify(value)}; a string would be read character by character).`
  }
  const origins: string[] = []
  for (const [i, entry] of value.entries()) {
    const problem = `${key}[${i}] (${JSON.stringify(entry)}) is not an origin; write scheme, host and port only, e.g. 'https://api.example.com'.`
    if (typeof entry !== 'string') return problem
    let url: URL
    try {
      url = new URL(entry)
    } catch {
      return problem
    }
    // An origin has no credentials, path, query or fragment: an entry with one would suggest a rule the hub does not apply.
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.pathname !== '/' || url.search || url.hash) return problem
    if (!origins.includes(url.origin)) origins.push(url.origin)
  }
  return origins
}
