import { cursorRequest, seqOfEventId } from '../protocol/reference.ts'
import { referenceFormat } from './formats.ts'
import type { RunProducer } from './producer.ts'
import { createRunHost, type RunHost, type RunHostOptions, type StartResult } from './run-host.ts'
import { nothingMoreAfter } from './run-stream.ts'

/** What a run's generator learns about the turn that started it. */
export interface StartRequest {
  /** The session the turn belongs to (`session_id` of the start body). */
  sessionId: string
  /** The user's message (`message` of the start body). */
  message: string
  /** The whole JSON body of the start request. */
  body: Record<string, unknown>
  /** The start request itself: its headers, for auth. */
  request: Request
}

/** Options of `createRunServer`: the generator, the routes' base path, and the run host's options. */
export interface RunServerOptions extends RunHostOptions {
  /**
   * Produces one run: emit its events on `run` (`run.emit('token', { text })`), return when it is
   * done (the server appends `stream_end`), throw to end it with `apperror`. Stop when
   * `run.signal` aborts (a cancel from any instance).
   */
  generate: (run: RunProducer, start: StartRequest) => void | Promise<void>
  /** Where the routes live. @defaultValue '/api/chat' */
  basePath?: string
  /** Checks a request before any route (auth); a Response it returns is sent instead. */
  authorize?: (request: Request) => Response | undefined | Promise<Response | undefined>
}

/** The defaults of `RunServerOptions`. */
export const RUN_SERVER_DEFAULTS = {
  /** The default of `RunServerOptions.basePath`. */
  basePath: '/api/chat',
} as const

/**
 * The reference chat protocol (docs/server.md; the hub's preset `reference`) served from a `RunLog`, as one Web
 * `fetch` handler (Next.js route handlers, Hono, Bun, Deno; Node through `toNodeListener`):
 * - `POST {base}/start` `{session_id, message}` → `{stream_id, session_id}`, or 409 `{error, active_stream_id}`;
 * - `GET {base}/stream?stream_id=` → SSE; cursor `after_seq`, `after_event_id`, `replay=1`, else `Last-Event-ID`; none: live only;
 *   204 when the run has ended and the cursor is at its end (nothing more, ever: see `nothingMoreAfter`);
 * - `GET {base}/stream/status?stream_id=` → `{active, replay_available, journal: {last_seq}}`;
 * - `GET|POST {base}/cancel?stream_id=` → `{ok, cancelled}`.
 */
export function createRunServer(options: RunServerOptions): {
  /** The one handler of every route: export it as the route's `GET` and `POST`. */
  fetch: (request: Request) => Promise<Response>
  /** The run host under the routes (start, stream, cancel, status of any run). */
  host: RunHost
} {
  const host = createRunHost(options)
  const base = (options.basePath ?? RUN_SERVER_DEFAULTS.basePath).replace(/\/$/, '')

  async function routes(request: Request): Promise<Response> {
    const denied = await options.authorize?.(request)
    if (denied) return denied
    const url = new URL(request.url)
    const route = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length) : ''
    const streamId = url.searchParams.get('stream_id') ?? ''
    switch (`${request.method} ${route}`) {
      case 'POST /start': {
        const body = await jsonBody(request)
        if (!body || typeof body.session_id !== 'string' || !body.session_id || typeof body.message !== 'string') return json(400, { error: 'POST a JSON body with session_id (a non-empty string) and message (a string)' })
        const start: StartRequest = { sessionId: body.session_id, message: body.message, body, request }
        const started = await host.start(start.sessionId, (run) => options.generate(run, start))
        if (!started.ok) return busy(started)
        return json(200, { stream_id: started.runId, session_id: start.sessionId })
      }
      case 'GET /stream': {
        const record = await host.status(streamId)
        if (!record) return json(404, { error: `unknown stream ${streamId}` })
        const afterSeq = cursorOf(url, request, streamId)
        if (nothingMoreAfter(record, afterSeq)) return new Response(null, { status: 204 })
        return new Response(host.stream(streamId, afterSeq, referenceFormat), { status: 200, headers: referenceFormat.headers })
      }
      case 'GET /stream/status': {
        const record = await host.status(streamId)
        if (!record) return json(404, { error: `unknown stream ${streamId}` })
        return json(200, { active: !record.ended, replay_available: true, journal: { last_seq: record.lastSeq } })
      }
      case 'GET /cancel':
      case 'POST /cancel': {
        const result = await host.cancel(streamId)
        if (result === 'unknown') return json(404, { error: `unknown stream ${streamId}` })
        return json(200, { ok: true, cancelled: result === 'cancelled' })
      }
      default:
        return json(404, { error: `no route ${request.method} ${url.pathname} (routes live under ${base}/)` })
    }
  }

  return { fetch: (request) => orUnavailable(routes, request), host }
}

/**
 * Runs a route; a log that fails (Redis away) answers 503 with `Retry-After`, so a client retries
 * after it instead of giving up on a 500. A 503 to a start means the turn did not start.
 */
export async function orUnavailable(route: (request: Request) => Promise<Response>, request: Request): Promise<Response> {
  try {
    return await route(request)
  } catch (error) {
    console.error(`run-relay/server: ${request.method} ${new URL(request.url).pathname} failed:`, error)
    const response = json(503, { error: `the run log is unavailable: ${error instanceof Error ? error.message : String(error)}`, code: 'log_unavailable' })
    response.headers.set('Retry-After', '1')
    return response
  }
}

/**
 * [protocol] Query `after_seq`, `after_event_id`, `replay=1` win over `Last-Event-ID`; with no
 * cursor at all, a fresh subscribe that replays nothing; a malformed or foreign cursor replays
 * from the start.
 */
export function cursorOf(url: URL, request: Request, runId: string): number | 'live' {
  const asked = cursorRequest(url.searchParams, request.headers.get('last-event-id'))
  switch (asked.kind) {
    case 'seq':
      return asked.seq
    case 'event-id':
      return seqOfEventId(asked.id, runId)
    case 'replay':
      return 0
    case 'none':
      return 'live'
  }
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } })
}

export async function jsonBody(request: Request): Promise<Record<string, unknown> | undefined> {
  try {
    const body: unknown = JSON.parse((await request.text()) || '{}')
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * A 409 for a start that could not begin: the session runs another run (its id in
 * `active_stream_id`), or `newRunId` repeated an id the log holds (`run_id_taken`).
 */
export function busy(result: Extract<StartResult, { ok: false }>, message = 'session already has a running stream'): Response {
  if ('runIdTaken' in result) return json(409, { error: `run ${result.runIdTaken} exists already: newRunId must give every run a new id`, code: 'run_id_taken' })
  return json(409, { error: message, active_stream_id: result.activeRunId })
}
