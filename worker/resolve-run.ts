import type { RunError, RunSpec } from '../common/model.ts'
import type { BackoffPolicy } from './backoff.ts'
import type { EventLogLimits } from './event-log.ts'
import { STREAM_DEFAULTS, type HubOptions } from './hub-options.ts'
import { contractOf, type ServerContract, type StreamFields } from './server-contract.ts'
import { checkPreset, checkRunFields, checkStream, type StreamUrls } from './spec-check.ts'

/** The hub settings a spec is resolved against (a `HubOptions` fits). */
export type StreamSettings = Pick<HubOptions, 'allowedOrigins' | 'maxEventSize' | 'backoff' | 'maxRetries' | 'maxServerErrors' | 'silenceTimeoutMs'>
export type RunSettings = StreamSettings & Pick<HubOptions, 'maxEventsPerRun' | 'maxBytesPerRun'>

/** One server stream, resolved: all that `ServerConnection` and the transports read. */
export interface ResolvedStream {
  contract: ServerContract
  /** Absolute, checked against the allow-list. */
  urls: StreamUrls
  /** The first request's method and body; a reconnect to `urls.resumeUrl` is a GET without one. */
  method: 'GET' | 'POST'
  body: string | undefined
  /** The spec's own request headers (the resume header is added per connection). */
  headers: Record<string, string>
  withCredentials: boolean
  /** The largest event accepted, in characters. */
  maxEventSize: number
  timeouts: {
    /** No response headers within this: the attempt times out. */
    connectMs: number
    /** Reconnect after this long without an event (or, with the fetch transport, a heartbeat); 0: never. */
    silenceMs: number
    /** Nothing at all for this long while open: the run is `stalled` (0: never). */
    stalledMs: number
    /** A connection that stays open this long counts as progress (feeds); undefined: only new events do. */
    healthyMs: number | undefined
  }
  reconnect: { backoff: BackoffPolicy; maxRetries: number; maxServerErrors: number }
}

/** A run's spec as the hub holds it: its session named (the run's own id when the spec has none). */
export type HeldSpec = RunSpec & { sessionId: string }

/** A run's spec, resolved once per open. */
export interface ResolvedRun extends ResolvedStream {
  spec: HeldSpec
  logLimits: EventLogLimits
}

/**
 * Resolves a run's spec against the hub's settings, once per open: the contract, the absolute
 * URLs, the limits and the timeouts, or why the spec is refused (a typed error that says how to
 * fix it). Pure: the spec is read, never kept apart from `spec`.
 */
export function resolveRun(spec: RunSpec, settings: RunSettings, baseUrl: string): ResolvedRun | RunError {
  const problem = checkRunFields(spec)
  if (problem) return problem
  const stream = resolveStream(spec, settings, baseUrl)
  if ('type' in stream) return stream
  const logLimits = { maxEvents: settings.maxEventsPerRun, maxBytes: settings.maxBytesPerRun, ...spec.logLimits }
  return { ...stream, spec: { ...spec, sessionId: spec.sessionId ?? spec.runId }, logLimits }
}

/** The stream part of `resolveRun`, which a feed shares. */
export function resolveStream(spec: StreamFields, settings: StreamSettings, baseUrl: string): ResolvedStream | RunError {
  const unknown = checkPreset(spec)
  if (unknown) return unknown
  const contract = contractOf(spec)
  const urls = checkStream(spec, contract, baseUrl, settings.allowedOrigins)
  if ('type' in urls) return urls
  const silenceMs = spec.silenceTimeoutMs ?? contract.silenceMs ?? settings.silenceTimeoutMs[contract.transport]
  const { maxRetries = settings.maxRetries, maxServerErrors = settings.maxServerErrors, ...backoff } = spec.reconnect ?? {}
  return {
    contract,
    urls,
    method: spec.method ?? 'GET',
    body: spec.body,
    headers: { ...spec.headers },
    withCredentials: spec.withCredentials ?? false,
    maxEventSize: spec.maxEventSize ?? settings.maxEventSize,
    timeouts: {
      connectMs: spec.connectTimeoutMs ?? STREAM_DEFAULTS.connectTimeoutMs,
      silenceMs,
      stalledMs: spec.stalledAfterMs ?? Math.floor(silenceMs / 2),
      healthyMs: undefined,
    },
    reconnect: { backoff: { ...settings.backoff, ...backoff }, maxRetries, maxServerErrors },
  }
}
