import { RelayError } from './errors.ts'
import type { RunSpec, RunSummary } from '../common/model.ts'
import type { RunRelay } from './relay-types.ts'

/** What `startRun` takes: the turn, and where the server's start and stream endpoints are. */
export interface StartRunOptions {
  /** The session (chat) the turn belongs to (`session_id` in the default body). */
  sessionId: string
  /** The user's message (`message` in the default body). */
  message: string
  /** The POST that starts a turn. @defaultValue `'/api/chat/start'` */
  url?: string
  /** Extra JSON fields of the POST body, beside `session_id` and `message`. */
  body?: Record<string, unknown>
  /** Headers of the POST (an `Authorization`, say); the run's stream gets them too. */
  headers?: Record<string, string>
  /** The stream URL of a run. @defaultValue `` (streamId) => `/api/chat/stream?stream_id=${encodeURIComponent(streamId)}` `` */
  streamUrl?: (streamId: string) => string
  /** The rest of the run's spec (preset, transport, ...). @defaultValue `{ preset: 'reference' }` */
  spec?: Partial<Omit<RunSpec, 'runId' | 'sessionId' | 'url'>>
}

/** The run that was opened, and whether it was already running (the server answered 409: this tab joined it). */
export interface StartedRun {
  /** The run's id: the server's `stream_id`, or its `active_stream_id` on a 409. */
  runId: string
  /** True when the session already ran this run (a 409) and the tab joined it. */
  joined: boolean
  /** The run as `relay.open` resolved it. */
  run: RunSummary
}

/** The defaults of `StartRunOptions`: the reference protocol's endpoints. */
export const START_RUN_DEFAULTS = {
  /** The default of `StartRunOptions.url`. */
  url: '/api/chat/start',
  /** The default of `StartRunOptions.streamUrl`. */
  streamUrl: (streamId: string) => `/api/chat/stream?stream_id=${encodeURIComponent(streamId)}`,
} as const

/**
 * Starts a turn on a chat server and opens its run in the hub: the glue every app writes by
 * hand around `relay.open`. In the reference protocol (docs/server.md), `POST /api/chat/start`
 * `{ session_id, message }` answers `{ stream_id }`, or 409 `{ active_stream_id }` when the
 * session already runs one; then the run is read from `GET /api/chat/stream?stream_id=`.
 *
 * It POSTs the turn, then opens its run (or the session's running one, on a 409). Rejects with a
 * RelayError: `auth` (401/403), `not_found` (404), `http` (another status), `bad_response`
 * (no stream id in the answer), or what `relay.open` rejects with.
 *
 * @example
 * const relay = useRunRelay()
 * const { runId, joined } = await startRun(relay, { sessionId, message: input.value })
 */
export async function startRun(relay: RunRelay, options: StartRunOptions): Promise<StartedRun> {
  const url = options.url ?? START_RUN_DEFAULTS.url
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...options.headers },
    body: JSON.stringify({ ...options.body, session_id: options.sessionId, message: options.message }),
  })
  const answer = (await response.json().catch(() => undefined)) as { stream_id?: unknown; active_stream_id?: unknown; error?: unknown } | undefined
  const joined = response.status === 409
  const streamId = joined ? answer?.active_stream_id : response.ok ? answer?.stream_id : undefined
  if (!response.ok && !joined) {
    const code = response.status === 401 || response.status === 403 ? 'auth' : response.status === 404 ? 'not_found' : 'http'
    throw new RelayError(code, `POST ${url} answered ${response.status}${answer?.error ? `: ${String(answer.error)}` : ''}.`)
  }
  if (typeof streamId !== 'string' || streamId === '') {
    throw new RelayError('bad_response', `POST ${url} answered ${response.status} without a ${joined ? 'active_stream_id' : 'stream_id'}: is it the reference protocol's start endpoint? Pass url, or call relay.open yourself.`)
  }
  const run = await relay.open({
    preset: 'reference',
    ...options.spec,
    ...(options.headers || options.spec?.headers ? { headers: { ...options.headers, ...options.spec?.headers } } : {}),
    runId: streamId,
    sessionId: options.sessionId,
    url: (options.streamUrl ?? START_RUN_DEFAULTS.streamUrl)(streamId),
  })
  return { runId: streamId, joined, run }
}
