import { UI_CHUNK_EVENT, uiMessageFormat } from './formats.ts'
import { createRunHost, type RunHost, type RunHostOptions } from './run-host.ts'
import { busy, cursorOf, json, jsonBody, orUnavailable } from './run-server.ts'

/** A UI message chunk (`{ type: 'text-delta', id, delta }`, ...): typed loosely, so `ai` stays optional. */
export type UIChunk = {
  /** The chunk's type (`start`, `text-delta`, `finish`, ...). */
  type: string
} & Record<string, unknown>

/** What `execute` writes with, shaped like the AI SDK's `UIMessageStreamWriter`. */
export interface UIChunkWriter {
  /** Writes one chunk; a `start` chunk without a `messageId` gets the turn's. */
  write(chunk: UIChunk): void
  /** Writes every chunk of a stream (e.g. `streamText(...).toUIMessageStream()`); resolves when it ends. */
  merge(stream: ReadableStream<UIChunk>): Promise<void>
}

/** What `execute` is given for one turn. */
export interface ExecuteRequest {
  /** The chat's id (the POST body's `id`, as `useChat` sends it). */
  chatId: string
  /** The POST body's `messages`, as sent by `useChat`. */
  messages: unknown[]
  /** The whole JSON body of the POST. */
  body: Record<string, unknown>
  /** The POST itself: its headers, for auth. */
  request: Request
  /** Where the turn's UI message chunks go. */
  writer: UIChunkWriter
  /** Aborts on a stop from any instance: stop generating. */
  signal: AbortSignal
}

/** Options of `createUIMessageServer`: the turn's `execute`, the route, and the run host's options. */
export interface UIMessageServerOptions extends RunHostOptions {
  /** Produces one turn's UI message chunks. Return when done; throw to end with an `error` chunk. */
  execute: (turn: ExecuteRequest) => void | Promise<void>
  /** The chat route (`useChat`'s `api`). @defaultValue '/api/chat' */
  basePath?: string
  /** Checks a request before any route (auth); a Response it returns is sent instead. */
  authorize?: (request: Request) => Response | undefined | Promise<Response | undefined>
  /**
   * The id of a turn's assistant message, put in its `start` chunk when the chunk has none (as
   * `streamText(...).toUIMessageStream()` writes it without `originalMessages`): a client that keeps
   * its messages then recognises the reply on a resume, instead of showing a second one.
   * @defaultValue `msg-` and a random UUID
   */
  generateMessageId?: () => string
}

/**
 * The AI SDK's resumable chat endpoints, on a `RunLog` instead of `resumable-stream`
 * (no `ai` import; the UI message stream is written directly):
 * - `POST {base}` `{id, messages}` starts a turn and answers with its stream (409 while one runs);
 * - `GET {base}/{id}/stream` replays the chat's active turn from its first chunk (or after the chunk
 *   named by `after_event_id` / `Last-Event-ID`, the `<run>:<seq>` ids of its frames), then live; 204 when none runs;
 * - `DELETE {base}/{id}/stream` stops the active turn, from any instance.
 * A turn survives its reader (a reload, another instance); a turn whose producer died ends
 * with an `error` chunk for every reader.
 */
export function createUIMessageServer(options: UIMessageServerOptions) {
  const host = createRunHost(options)
  const base = (options.basePath ?? '/api/chat').replace(/\/$/, '')
  const streamResponse = (runId: string, afterSeq = 0) => new Response(host.stream(runId, afterSeq, uiMessageFormat), { status: 200, headers: uiMessageFormat.headers })

  async function POST(request: Request): Promise<Response> {
    const denied = await options.authorize?.(request)
    if (denied) return denied
    const body = await jsonBody(request)
    if (!body || typeof body.id !== 'string' || !body.id || !Array.isArray(body.messages)) return json(400, { error: 'POST a JSON body with id (the chat id) and messages (an array), as useChat sends' })
    const chatId = body.id
    const messages = body.messages as unknown[]
    const started = await host.start(chatId, async (run) => {
      const merges: Promise<void>[] = []
      const messageId = options.generateMessageId?.() ?? `msg-${crypto.randomUUID()}`
      const writer: UIChunkWriter = {
        write: (chunk) => run.emit(UI_CHUNK_EVENT, JSON.stringify(chunk.type === 'start' && chunk.messageId === undefined ? { ...chunk, messageId } : chunk)),
        merge(stream) {
          const merged = (async () => {
            const reader = stream.getReader()
            const cancel = () => void reader.cancel(run.signal.reason).catch(() => {})
            run.signal.addEventListener('abort', cancel, { once: true })
            try {
              for (let next = await reader.read(); !next.done; next = await reader.read()) writer.write(next.value)
            } finally {
              // One listener per merge would pile up on the turn's signal (a tool loop merges many streams).
              run.signal.removeEventListener('abort', cancel)
            }
          })()
          merges.push(merged)
          return merged
        },
      }
      await options.execute({ chatId, messages, body, request, writer, signal: run.signal })
      await Promise.all(merges)
    })
    if (!started.ok) return busy(started, 'this chat already has a running turn: resume it with GET, or stop it with DELETE')
    return streamResponse(started.runId)
  }

  async function GET(request: Request): Promise<Response> {
    const denied = await options.authorize?.(request)
    if (denied) return denied
    const chatId = chatIdOf(request)
    if (chatId === undefined) return json(404, { error: `no route GET ${new URL(request.url).pathname} (resume is GET ${base}/{chatId}/stream)` })
    const runId = await host.log.activeRun(chatId)
    const record = runId === undefined ? undefined : await host.status(runId)
    if (!runId || !record || record.ended) return new Response(null, { status: 204 })
    // After the client's last chunk (`after_event_id` or `Last-Event-ID`, `<run>:<seq>` of this turn); else from the first.
    const after = cursorOf(new URL(request.url), request, runId)
    return streamResponse(runId, after === 'live' ? 0 : after)
  }

  async function DELETE(request: Request): Promise<Response> {
    const denied = await options.authorize?.(request)
    if (denied) return denied
    const chatId = chatIdOf(request)
    if (chatId === undefined) return json(404, { error: `no route DELETE ${new URL(request.url).pathname} (stop is DELETE ${base}/{chatId}/stream)` })
    const runId = await host.log.activeRun(chatId)
    const cancelled = runId !== undefined && (await host.cancel(runId)) === 'cancelled'
    return json(200, { ok: true, cancelled })
  }

  function chatIdOf(request: Request): string | undefined {
    const path = new URL(request.url).pathname
    if (!path.startsWith(`${base}/`) || !path.endsWith('/stream')) return undefined
    const id = path.slice(base.length + 1, -'/stream'.length)
    return id && !id.includes('/') ? decodeURIComponent(id) : undefined
  }

  /** One handler for every method (mount it on `{base}` and `{base}/*`). */
  async function route(request: Request): Promise<Response> {
    switch (request.method) {
      case 'POST':
        return POST(request)
      case 'GET':
        return GET(request)
      case 'DELETE':
        return DELETE(request)
      default:
        return json(405, { error: `method ${request.method} not allowed: POST ${base}, GET or DELETE ${base}/{chatId}/stream` })
    }
  }

  return {
    /** One handler for every method: mount it on `{base}` and `{base}/*`. */
    fetch: (request: Request) => orUnavailable(route, request),
    /** `POST {base}`: starts a turn and answers with its UI message stream (409 while one runs). */
    POST: (request: Request) => orUnavailable(POST, request),
    /** `GET {base}/{id}/stream`: replays the chat's active turn, then live; 204 when none runs. */
    GET: (request: Request) => orUnavailable(GET, request),
    /** `DELETE {base}/{id}/stream`: stops the chat's active turn, from any instance. */
    DELETE: (request: Request) => orUnavailable(DELETE, request),
    /** The run host under the routes. */
    host: host as RunHost,
  }
}
