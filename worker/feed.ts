import type { Announcement, FeedSpec, FeedSummary, RunError, RunSpec } from '../common/model.ts'
import type { ServerConnectionEnv } from './server-connection.ts'
import { ConnectionHolder, type TransitionNotice } from './connection-holder.ts'
import { STREAM_DEFAULTS } from './hub-options.ts'
import { resolveStream, type ResolvedStream, type StreamSettings } from './resolve-run.ts'
import type { StreamFields } from './server-contract.ts'
import { ServerCursor } from './server-cursor.ts'

/** What a feed tells its listener (the hub). */
export type FeedNotice =
  /** `action` changed the feed's status. */
  | TransitionNotice
  /** An event announced this run: the hub opens or joins it, and says how that went (`announced`, `reject`). */
  | { type: 'announcement'; spec: RunSpec }

/**
 * A feed: a long-lived announcement stream whose events open the runs they announce. It has its
 * own reconnecting connection and status (it parks and counts in the budget like a run), but no
 * log: each event is read as it arrives.
 */
export class Feed extends ConnectionHolder<FeedNotice> {
  readonly spec: FeedSpec
  /** Clients that opened the feed; the hub closes it when the last one is gone. */
  readonly holders = new Set<string>()
  announced = 0
  rejected = 0
  lastError: RunError | undefined
  readonly #cursor: ServerCursor

  constructor(spec: FeedSpec, stream: ResolvedStream, env: ServerConnectionEnv, openOrder: number) {
    const cursor = new ServerCursor(stream.contract)
    super(stream, env, cursor, openOrder)
    this.spec = spec
    this.#cursor = cursor
  }

  summary(): FeedSummary {
    const summary: FeedSummary = { feedId: this.spec.feedId, status: this.status, announced: this.announced, rejected: this.rejected }
    const error = this.lastError ?? this.error
    if (error) summary.error = error
    return summary
  }

  reject(message: string): void {
    this.rejected++
    this.lastError = { type: 'error', code: 'invalid_spec', message: `Feed ${this.spec.feedId}: ${message}` }
  }

  /** An event: announcements are never skipped as replays (opening a run twice joins it), only events whose id was seen. */
  protected receive(type: string, data: string, id: string | undefined): void {
    if (this.#cursor.ingest(id).kind !== 'new') return
    this.connection.progress()
    const announcement = this.spec.announces.find((candidate) => candidate.event === type)
    if (!announcement) return
    const spec = announcedSpec(announcement, data)
    if (typeof spec === 'string') return this.reject(spec)
    this.notify({ type: 'announcement', spec })
  }
}

/**
 * A feed's stream, resolved, or why its spec is refused. A feed never ends by itself, and echoes
 * its last id if its server sends ids; the reference server re-announces every live run on
 * subscribe instead, so nothing announced while down is lost.
 */
export function resolveFeed(spec: FeedSpec, settings: StreamSettings, baseUrl: string): ResolvedStream | RunError {
  const problem = feedSpecProblem(spec)
  if (problem) return { type: 'error', code: 'invalid_spec', message: problem }
  const fields: StreamFields = {
    url: spec.url,
    transport: spec.transport,
    events: [...new Set(spec.announces.map((announcement) => announcement.event))],
    end: { events: [], data: null, onClose: false },
    resume: { kind: 'query', param: 'last_event_id', value: 'event-id' },
  }
  if (spec.withCredentials !== undefined) fields.withCredentials = spec.withCredentials
  if (spec.headers !== undefined) fields.headers = spec.headers
  if (spec.reconnect !== undefined) fields.reconnect = spec.reconnect
  if (spec.silenceTimeoutMs !== undefined) fields.silenceTimeoutMs = spec.silenceTimeoutMs
  const stream = resolveStream(fields, settings, baseUrl)
  if ('type' in stream) return stream
  // A feed may be idle for hours: staying open counts as progress, while a server that accepts
  // and closes at once still uses up the retries.
  return { ...stream, timeouts: { ...stream.timeouts, healthyMs: STREAM_DEFAULTS.feedHealthyMs } }
}

/** What is wrong with a feed spec from the page, or undefined. */
function feedSpecProblem(spec: FeedSpec): string | undefined {
  if (typeof spec?.feedId !== 'string' || !spec.feedId) return 'FeedSpec.feedId must be a non-empty string.'
  if (!Array.isArray(spec.announces) || spec.announces.length === 0) {
    return "FeedSpec.announces must list at least one announcement, e.g. { event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }."
  }
  for (const { event, run } of spec.announces) {
    if (typeof event !== 'string' || !event) return 'Each announcement needs the `event` name that announces a run.'
    if (typeof run?.runId !== 'string' || (run.sessionId !== undefined && typeof run.sessionId !== 'string') || typeof run.url !== 'string') {
      return `The announcement of '${event}' needs run.runId, run.sessionId and run.url templates, e.g. runId: '{stream_id}'.`
    }
  }
  return undefined
}

/**
 * The spec of the run an announcement describes: `{field}` in `runId`, `sessionId` and `url`
 * replaced by that field of the announcement's JSON data (URL-encoded inside `url`).
 * Returns why not, as a string, when the data does not fit.
 */
function announcedSpec(announcement: Announcement, data: string): RunSpec | string {
  let fields: unknown
  try {
    fields = JSON.parse(data)
  } catch {
    return `the data of a '${announcement.event}' announcement is not JSON: ${data.slice(0, 80)}`
  }
  if (!fields || typeof fields !== 'object') return `the data of a '${announcement.event}' announcement is not a JSON object`
  const missing = new Set<string>()
  const fill = (template: string, encode: boolean) =>
    template.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = (fields as Record<string, unknown>)[name]
      if (typeof value !== 'string' && typeof value !== 'number') {
        missing.add(name)
        return ''
      }
      return encode ? encodeURIComponent(String(value)) : String(value)
    })
  const { run } = announcement
  const spec: RunSpec = { ...structuredClone(run), runId: fill(run.runId, false), url: fill(run.url, true) }
  if (run.sessionId !== undefined) spec.sessionId = fill(run.sessionId, false)
  if (missing.size > 0) return `a '${announcement.event}' announcement has no ${[...missing].join(', ')} field (string or number)`
  return spec
}
