import type { Announcement, FeedSpec, FeedSummary, RunError, RunSpec } from '../src/model.ts'
import type { Run } from './run.ts'

/**
 * A feed: a long-lived announcement stream whose connection is a `Run` (so it reconnects,
 * parks and counts in the budget like one), and whose events open the runs they announce.
 */
export class Feed {
  readonly spec: FeedSpec
  readonly run: Run
  /** Clients that opened the feed; the hub closes it when the last one is gone. */
  readonly holders = new Set<string>()
  announced = 0
  rejected = 0
  lastError: RunError | undefined

  constructor(spec: FeedSpec, run: Run) {
    this.spec = spec
    this.run = run
  }

  summary(): FeedSummary {
    const summary: FeedSummary = { feedId: this.spec.feedId, status: this.run.status, announced: this.announced, rejected: this.rejected }
    const error = this.lastError ?? this.run.summary().error
    if (error) summary.error = error
    return summary
  }

  /** The announcement an event of this type makes, if any. */
  announcementFor(type: string): Announcement | undefined {
    return this.spec.announces.find((announcement) => announcement.event === type)
  }

  reject(message: string): void {
    this.rejected++
    this.lastError = { type: 'error', code: 'invalid_spec', message: `Feed ${this.spec.feedId}: ${message}` }
  }
}

/** The connection of a feed, as the spec of a run that never ends by itself. */
export function feedConnectionSpec(spec: FeedSpec): RunSpec {
  const connection: RunSpec = {
    runId: `feed:${spec.feedId}`,
    sessionId: `feed:${spec.feedId}`,
    url: spec.url,
    transport: spec.transport,
    events: [...new Set(spec.announces.map((announcement) => announcement.event))],
    end: { events: [], data: null, onClose: false },
    // A feed echoes its last id, if its server sends ids; the reference server re-announces every
    // live run on subscribe instead, so nothing announced while down is lost. Announcements are
    // never skipped as replays: opening a run twice joins it.
    resume: { kind: 'query', param: 'last_event_id', value: 'event-id' },
    logLimits: { maxEvents: 1 },
  }
  if (spec.withCredentials !== undefined) connection.withCredentials = spec.withCredentials
  if (spec.headers !== undefined) connection.headers = spec.headers
  if (spec.reconnect !== undefined) connection.reconnect = spec.reconnect
  if (spec.silenceTimeoutMs !== undefined) connection.silenceTimeoutMs = spec.silenceTimeoutMs
  return connection
}

/** What is wrong with a feed spec from the page, or undefined. */
export function feedSpecProblem(spec: FeedSpec): string | undefined {
  if (typeof spec?.feedId !== 'string' || !spec.feedId) return 'FeedSpec.feedId must be a non-empty string.'
  if (!Array.isArray(spec.announces) || spec.announces.length === 0) {
    return "FeedSpec.announces must list at least one announcement, e.g. { event: 'server_turn_started', run: { runId: '{stream_id}', sessionId: '{session_id}', url: '/api/chat/stream?stream_id={stream_id}' } }."
  }
  for (const { event, run } of spec.announces) {
    if (typeof event !== 'string' || !event) return 'Each announcement needs the `event` name that announces a run.'
    if (typeof run?.runId !== 'string' || typeof run.sessionId !== 'string' || typeof run.url !== 'string') {
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
export function announcedSpec(announcement: Announcement, data: string): RunSpec | string {
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
  const spec: RunSpec = { ...structuredClone(run), runId: fill(run.runId, false), sessionId: fill(run.sessionId, false), url: fill(run.url, true) }
  if (missing.size > 0) return `a '${announcement.event}' announcement has no ${[...missing].join(', ')} field (string or number)`
  return spec
}
