import type { RunError, RunSpec } from '../common/model.ts'
import { PRESETS, type ServerContract, type StreamFields } from './server-contract.ts'

/** A stream's URLs, resolved and checked. */
export interface StreamUrls {
  url: URL
  /** Where reconnects go (`RunSpec.resumeUrl`), resolved against the same base as `url` and checked by the same rules. */
  resumeUrl: URL | undefined
}

/**
 * Checks a spec from the page before the hub opens anything: every refusal is a typed
 * `RunError` whose message says how to fix the call. These are the fields only a run has.
 */
export function checkRunFields(spec: RunSpec): RunError | undefined {
  const invalid = (message: string): RunError => ({ type: 'error', code: 'invalid_spec', message })
  if (typeof spec?.runId !== 'string' || !spec.runId) return invalid('RunSpec.runId must be a non-empty string (the server\'s stream id).')
  if (spec.sessionId !== undefined && (typeof spec.sessionId !== 'string' || !spec.sessionId)) return invalid('RunSpec.sessionId must be a non-empty string, or left out (the run is then a session of its own).')
  return undefined
}

/** The preset a spec names is known: checked before its contract can be resolved. */
export function checkPreset(spec: StreamFields): RunError | undefined {
  const noUrl = checkUrlField(spec)
  if (noUrl) return noUrl
  if (spec.preset !== undefined && !(spec.preset in PRESETS)) {
    return { type: 'error', code: 'invalid_spec', message: `Unknown preset '${spec.preset}'; use one of ${Object.keys(PRESETS).filter((name) => name !== 'auto').join(', ')}, or none.` }
  }
  return undefined
}

function checkUrlField(spec: StreamFields): RunError | undefined {
  if (typeof spec.url === 'string' && spec.url) return undefined
  return { type: 'error', code: 'invalid_spec', message: 'RunSpec.url must be the stream URL, e.g. `/api/chat/stream?stream_id=...`.' }
}

/**
 * Checks a stream's fields against its resolved contract, and returns its URLs resolved against
 * `baseUrl`: the very URLs that were checked.
 */
export function checkStream(spec: StreamFields, contract: ServerContract, baseUrl: string, allowedOrigins: readonly string[]): StreamUrls | RunError {
  const url = checkStreamFields(spec, contract, baseUrl, allowedOrigins)
  if (!(url instanceof URL)) return url
  if (spec.resumeUrl === undefined) return { url, resumeUrl: undefined }
  const resumeUrl = checkStreamFields({ ...spec, url: spec.resumeUrl, method: undefined, body: undefined }, contract, baseUrl, allowedOrigins)
  if (!(resumeUrl instanceof URL)) return { ...resumeUrl, message: `RunSpec.resumeUrl: ${resumeUrl.message}` }
  return { url, resumeUrl }
}

function checkStreamFields(spec: StreamFields, contract: ServerContract, baseUrl: string, allowedOrigins: readonly string[]): URL | RunError {
  const invalid = (message: string): RunError => ({ type: 'error', code: 'invalid_spec', message })
  // The preset was checked once, before the contract was resolved; `url` is checked here too, as it stands for `resumeUrl` as well.
  const noUrl = checkUrlField(spec)
  if (noUrl) return noUrl
  if (contract.transport === 'eventsource' && (spec.method === 'POST' || spec.headers || spec.body)) {
    return invalid('EventSource can only GET without custom headers; use `transport: \'fetch\'` for method, headers or body.')
  }
  if (contract.transport === 'eventsource' && contract.resume.kind === 'offset') {
    return invalid("The offset resume (Durable Streams) reads the stream's headers (Stream-SSE-Data-Encoding), which EventSource hides; use `transport: 'fetch'`.")
  }
  if (contract.transport === 'eventsource' && contract.resume.kind === 'header') {
    return invalid('EventSource cannot send Last-Event-ID on a reconnect the hub opens; use `transport: \'fetch\'`, or resume with a query parameter: `resume: { kind: \'query\', param: \'lastEventId\', value: \'event-id\' }`.')
  }
  let url: URL
  try {
    url = new URL(spec.url, baseUrl)
  } catch {
    return { type: 'error', code: 'url_refused', message: `"${spec.url}" is not a valid URL.` }
  }
  const own = new URL(baseUrl).origin
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { type: 'error', code: 'url_refused', message: `Stream URLs must be http(s); got ${url.protocol}` }
  }
  if (url.username || url.password) {
    // The browser would send them as Basic auth to whoever answers, and EventSource refuses such URLs.
    return { type: 'error', code: 'url_refused', message: `Stream URLs must not carry credentials (user:pass@ in "${url.host}"); send them in \`headers\` (fetch transport) or as cookies with \`withCredentials\`.` }
  }
  if (url.origin !== own && !allowedOrigins.includes(url.origin)) {
    return { type: 'error', code: 'url_refused', message: `${url.origin} is not this app's origin (${own}); add it to allowedOrigins to stream from it.` }
  }
  return url
}
