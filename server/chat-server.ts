import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Plugin } from 'vite'
import { handleHostile } from './hostile.ts'
import { replyTokens } from './prose.ts'
import { createSessionChannels } from './session-channel.ts'
import { frameOf, replaysFromStart, responseHeaders, seqOfWireId, wireEventsOf, type EndMode, type WireEvent, type WireMode } from './wire.ts'

/**
 * A dev chat server speaking the reference protocol (README.md: *Server contract*, preset `reference`),
 * mounted as Vite middleware so `vite`, `vite preview` and the vitest browser
 * server all serve it. Runs progress on the server whether or not anyone
 * reads them, and every event is journaled for replay.
 */

/** What a client can ask of a run when starting it. */
export interface RunSettings {
  /** Number of `token` events; 0: the whole reply once. @defaultValue 40 */
  tokens: number
  /** Tokens per second. @defaultValue 20 */
  rate: number
  /** Heartbeat comment interval. @defaultValue 5000 */
  heartbeatMs: number
  /** Put the server's clock (`at`, ms since the epoch, sub-ms) in each token: the benchmark measures latency with it. @defaultValue false */
  stamp: boolean
  /** The shape of the server on the wire (see `WireMode`). @defaultValue 'reference' */
  wire: WireMode
  /** With `no-ids`, `opaque-ids` and `timestamp-ids`: end with `stream_end`, or by closing the response. @defaultValue 'event' */
  end: EndMode
  /** Ignore every resume cursor and replay the run from its start (a server that cannot seek). @defaultValue false */
  ignoreCursor: boolean
}

const SETTINGS_DEFAULTS: RunSettings = { tokens: 40, rate: 20, heartbeatMs: 5000, stamp: false, wire: 'reference', end: 'event', ignoreCursor: false }

/**
 * Faults a test can inject into one run. Seqs are journal seqs; the per-connection faults
 * fire once, on the first connection that entry is sent to (live or in a replay).
 */
export interface RunFaults {
  /** Close the response right after sending this seq. */
  dropAfter?: number
  /** After sending this seq, write nothing more to that connection, not even heartbeats. */
  stallAfter?: number
  /** Answer the stream endpoint with this status, `statusTimes` times (default: always). */
  status?: number
  statusTimes?: number
  /** After this seq, write a malformed line and an event whose data is invalid UTF-8. */
  malformedAt?: number
  /** Give the event with this seq 2 MiB of data. */
  oversizeAt?: number
  /** Leave this seq out, once (the journal keeps it, so a replay has it). */
  skipSeqAt?: number
  /** Answer 200 with an HTML login page instead of the stream. */
  html?: boolean
  /** Answer 302 to this URL instead of the stream. */
  redirect?: string
  /** Never answer: no status, no headers (until the client gives up). */
  hang?: boolean
  /** Answer 401 unless the request carries `Authorization: Bearer <this>`. */
  requireAuth?: string
  /**
   * The network between browser and server is down: every stream request's socket is destroyed
   * at once, unanswered (with `POST /api/chat/cut` for the open ones). A server-side outage, for
   * engines that cannot take a SharedWorker offline.
   */
  refuse?: boolean
  /**
   * Send a bare `id` line alone (a block that dispatches nothing), then this seq's event without
   * its id: [spec] the id resets to "" and the event has none (Firefox keeps the previous one).
   */
  bareIdAt?: number
}

/** A server restart: what survives it. */
export interface Restart {
  /** `keep`: the journal persists; `trim`: events before the restart and 3 during it cannot be replayed; `lose`: the run is unknown. */
  journal: 'keep' | 'trim' | 'lose'
  /** `continue`: the run goes on; `stop`: it never finishes (replays end with a synthetic apperror). */
  worker: 'continue' | 'stop'
}
const TERMINAL = new Set(['stream_end', 'cancel', 'apperror', 'error'])

interface JournalEntry {
  seq: number
  event: string
  data: string
}

interface ServerRun {
  streamId: string
  sessionId: string
  prompt: string
  settings: RunSettings
  faults: RunFaults
  journal: JournalEntry[]
  /** Journal entries before this seq were forgotten (a restart that trimmed the journal). */
  floorSeq: number
  stalled: Set<ServerResponse>
  finished: boolean
  clients: Set<ServerResponse>
  opened: number
  /** Stream responses not yet closed, and the most there ever were at once: one run must never hold two. */
  live: number
  maxLive: number
  /** The longest time two stream responses of this run were open at once (a closed socket reaches the server a moment late). */
  overlapMs: number
  /** When each response still open began. */
  liveSince: Set<number>
  probes: number
  /** Stream requests destroyed unanswered by the `refuse` fault. */
  refused: number
  cursors: string[]
  timer?: ReturnType<typeof setInterval>
}

/** The deterministic reply to a prompt, token by token (see `prose.ts`): test transcripts can be predicted and compared. */
export function tokenText(prompt: string, index: number): string {
  const tokens = replyTokens(prompt)
  return tokens[index % tokens.length]!
}

export function createChatServer() {
  const runs = new Map<string, ServerRun>()
  const channels = createSessionChannels()
  let nextId = 1

  function append(run: ServerRun, event: string, payload: unknown): void {
    const seq = run.journal.length + 1
    const data = seq === run.faults.oversizeAt ? JSON.stringify({ text: 'x'.repeat(2 * 1024 * 1024) }) : JSON.stringify(payload)
    const entry = { seq, event, data }
    run.journal.push(entry)
    for (const client of run.clients) send(run, client, entry)
    if (TERMINAL.has(event)) finish(run)
  }

  /**
   * Writes one entry to one connection, live or in a replay, with the run's faults: each
   * fires once, on the first connection the entry is sent to, so tests do not depend on
   * whether the client connected before or after that seq was produced.
   */
  function send(run: ServerRun, client: ServerResponse, entry: JournalEntry): void {
    const { faults } = run
    if (run.stalled.has(client) || client.writableEnded) return
    if (entry.seq === faults.skipSeqAt) {
      faults.skipSeqAt = undefined
      return
    }
    for (const event of wireEventsOf(run.settings.wire, run.settings.end, run.streamId, entry)) {
      client.write(entry.seq === faults.bareIdAt ? `id\n\n${frameOf({ ...event, id: undefined })}` : frameOf(event))
    }
    if (entry.seq === faults.malformedAt) {
      faults.malformedAt = undefined
      client.write('this line has no colon\nid\nretry: soon\n\n')
      client.write(Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a, 0x0a])) // "data: <invalid UTF-8>"
    }
    if (entry.seq === faults.stallAfter) {
      faults.stallAfter = undefined
      run.stalled.add(client)
    }
    if (entry.seq === faults.dropAfter) {
      // The server closes the response mid-run (a proxy timeout, a deploy): the client must resume.
      faults.dropAfter = undefined
      client.end()
    }
  }

  function finish(run: ServerRun): void {
    run.finished = true
    clearInterval(run.timer)
    // [protocol] the server ends the response after a terminal event.
    for (const client of run.clients) client.end()
  }

  function startRun(sessionId: string, prompt: string, settings: RunSettings, faults: RunFaults, idPrefix = ''): ServerRun {
    const run: ServerRun = {
      streamId: `${idPrefix}s${nextId++}-${Math.random().toString(36).slice(2, 8)}`,
      sessionId, prompt, settings, faults, journal: [], floorSeq: 1, stalled: new Set(), finished: false, clients: new Set(), opened: 0, live: 0, maxLive: 0, overlapMs: 0, liveSince: new Set(), probes: 0, refused: 0, cursors: [],
    }
    runs.set(run.streamId, run)
    // 0 tokens: the whole reply, once.
    const total = settings.tokens > 0 ? settings.tokens : replyTokens(prompt).length
    let index = 0
    const started = Date.now()
    let lastMetering = started
    const tickMs = Math.max(5, 1000 / settings.rate)
    run.timer = setInterval(() => {
      // Emit what the rate allows by now, so slow timers do not slow the run.
      const due = Math.min(total, Math.floor(((Date.now() - started) * settings.rate) / 1000) + 1)
      for (; index < due; index++) {
        if (index === Math.floor(total / 2)) {
          append(run, 'tool', { name: 'search', args: { q: prompt } })
          append(run, 'tool_complete', { name: 'search', result: 'ok' })
        }
        append(run, 'token', settings.stamp ? { text: tokenText(prompt, index), at: performance.timeOrigin + performance.now() } : { text: tokenText(prompt, index) })
      }
      if (Date.now() - lastMetering >= 1000) {
        lastMetering = Date.now()
        append(run, 'metering', { tokens: index })
      }
      if (index >= total) {
        clearInterval(run.timer)
        append(run, 'done', { session: sessionId, usage: { output_tokens: total } })
        append(run, 'metering', { tokens: index })
        append(run, 'title', { title: prompt.slice(0, 40) })
        append(run, 'stream_end', {})
      }
    }, tickMs)
    return run
  }

  /** [protocol] query `after_seq` / `after_event_id` / `replay=1` win over Last-Event-ID; none: live only. */
  function cursorOf(run: ServerRun, url: URL, req: IncomingMessage): { afterSeq: number; asked: string } {
    // A malformed or foreign cursor replays from the start.
    const parseEventId = (value: string) => seqOfWireId(run.settings.wire, run.streamId, value, run.journal.length) ?? 0
    if (replaysFromStart(run.settings.wire) || run.settings.ignoreCursor) return { afterSeq: 0, asked: 'replay (no seek)' }
    const afterSeq = url.searchParams.get('after_seq')
    if (afterSeq !== null) return { afterSeq: Number.isInteger(Number(afterSeq)) ? Number(afterSeq) : 0, asked: `after_seq=${afterSeq}` }
    const afterEventId = url.searchParams.get('after_event_id')
    if (afterEventId !== null) return { afterSeq: parseEventId(afterEventId), asked: `after_event_id=${afterEventId}` }
    if (url.searchParams.get('replay') === '1') return { afterSeq: 0, asked: 'replay=1' }
    const header = req.headers['last-event-id']
    if (typeof header === 'string') return { afterSeq: parseEventId(header), asked: `last-event-id=${header}` }
    // [protocol] The reference server's fresh subscribe replays nothing; a generic server streams the run from its start.
    return { afterSeq: run.settings.wire === 'reference' ? run.journal.length : 0, asked: 'none' }
  }

  function stream(run: ServerRun, url: URL, req: IncomingMessage, res: ServerResponse): void {
    const { faults } = run
    if (faults.refuse) {
      run.refused++
      return void req.socket.destroy()
    }
    const injectedStatus = faults.status !== undefined && (faults.statusTimes ?? Infinity) > 0
    // A client's probe for the status a failed EventSource hid: answered like the stream, counted apart.
    if (req.headers['x-run-relay-probe']) {
      run.probes++
      if (injectedStatus) return json(res, faults.status!, { error: `injected status ${faults.status}` })
      if (badAnswer(run, req, res)) return
      res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'close' })
      return void res.end()
    }
    const { afterSeq, asked } = cursorOf(run, url, req)
    run.opened++
    run.maxLive = Math.max(run.maxLive, ++run.live)
    const since = performance.now()
    run.liveSince.add(since)
    res.on('close', () => {
      run.live--
      run.liveSince.delete(since)
      // Overlap with the responses that opened after this one and are still open.
      for (const other of run.liveSince) if (other > since) run.overlapMs = Math.max(run.overlapMs, performance.now() - other)
    })
    run.cursors.push(asked)
    if (injectedStatus) {
      faults.statusTimes = (faults.statusTimes ?? Infinity) - 1
      return json(res, faults.status!, { error: `injected status ${faults.status}` })
    }
    if (badAnswer(run, req, res)) return
    res.writeHead(200, responseHeaders(run.settings.wire))
    for (const entry of run.journal.slice(Math.max(afterSeq, run.floorSeq - 1))) send(run, res, entry)
    if (res.writableEnded) return
    if (run.finished) {
      const last = run.journal.at(-1)
      // [protocol] a journal without a terminal event gets a synthetic apperror.
      if (run.settings.wire === 'reference' && (!last || !TERMINAL.has(last.event))) res.write(`event: apperror\ndata: ${JSON.stringify({ message: 'the live worker stopped' })}\n\n`)
      return void res.end()
    }
    run.clients.add(res)
    // Not after end: `close` comes a moment after `end()`, and a write between them would throw.
    const heartbeat = setInterval(() => run.stalled.has(res) || res.writableEnded || res.write(': heartbeat\n\n'), run.settings.heartbeatMs)
    res.on('close', () => {
      clearInterval(heartbeat)
      run.clients.delete(res)
      run.stalled.delete(res)
    })
  }

  /** Simulates a server restart for one run: every connection dies; `how` says what survives. */
  function restart(run: ServerRun, how: Restart): void {
    for (const client of run.clients) client.destroy()
    if (how.journal === 'lose') runs.delete(run.streamId)
    if (how.journal === 'trim' && !run.finished) {
      // Events the run produced while the server restarted, that no journal kept.
      for (let i = 0; i < 3; i++) append(run, 'token', { text: '(lost) ' })
      run.floorSeq = run.journal.length + 1
    }
    if (how.worker === 'stop') {
      clearInterval(run.timer)
      run.finished = true
    }
  }

  /** The faults that answer something other than a stream. Returns whether it answered. */
  function badAnswer(run: ServerRun, req: IncomingMessage, res: ServerResponse): boolean {
    const { faults } = run
    if (faults.requireAuth !== undefined && req.headers.authorization !== `Bearer ${faults.requireAuth}`) {
      json(res, 401, { error: 'sign in' })
      return true
    }
    if (faults.html) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
      res.end('<!doctype html><title>Sign in</title><form><input name="user"></form>')
      return true
    }
    if (faults.redirect !== undefined) {
      res.writeHead(302, { Location: faults.redirect })
      res.end()
      return true
    }
    return faults.hang === true // no status, no headers: the response stays unanswered until the client aborts
  }

  function stats(run: ServerRun) {
    return { sessionId: run.sessionId, open: run.clients.size, opened: run.opened, maxOpen: run.maxLive, overlapMs: Math.round(run.overlapMs), probes: run.probes, refused: run.refused, cursors: run.cursors, lastSeq: run.journal.length, finished: run.finished }
  }

  /**
   * The AI SDK's endpoints, speaking its UI message stream: `POST /api/chat` starts a turn
   * (session = the chat id) and answers with its stream; `GET /api/chat/{id}/stream` replays
   * the chat's active stream from its first chunk, or answers 204 when none runs.
   */
  async function aiSdk(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const resume = /^\/api(?:\/ai)?\/chat\/([^/]+)\/stream$/.exec(url.pathname)
    if (req.method === 'GET' && resume) {
      const chatId = decodeURIComponent(resume[1]!)
      const active = [...runs.values()].filter((r) => r.sessionId === chatId && !r.finished).at(-1)
      if (!active) {
        res.writeHead(204)
        return void res.end()
      }
      return stream(active, url, req, res)
    }
    if (req.method === 'POST' && (url.pathname === '/api/ai/chat' || url.pathname === '/api/chat')) {
      const body = JSON.parse((await readBody(req)) || '{}') as { id?: string; messages?: Array<{ role: string; parts?: Array<{ type: string; text?: string }> }> } & Partial<RunSettings>
      if (!body.id || !Array.isArray(body.messages)) return json(res, 400, { error: 'id and messages are required' })
      const last = body.messages.filter((m) => m.role === 'user').at(-1)
      const prompt = last?.parts?.filter((p) => p.type === 'text').map((p) => p.text).join('') ?? ''
      const settings = { ...SETTINGS_DEFAULTS, tokens: 0, ...pick(body, ['tokens', 'rate']), wire: 'ai-sdk' as const }
      return stream(startRun(body.id, prompt, settings, {}), url, req, res)
    }
    return json(res, 404, { error: `no route ${req.method} ${url.pathname}` })
  }

  return async function handle(req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    // The AI SDK's default paths too (`POST /api/chat`, `GET /api/chat/{id}/stream`), beside the reference protocol's.
    if (url.pathname.startsWith('/api/hostile/')) return handleHostile(req, res, url)
    if (url.pathname.startsWith('/api/ai/chat') || url.pathname === '/api/chat' || /^\/api\/chat\/[^/]+\/stream$/.test(url.pathname)) return aiSdk(req, res, url)
    if (!url.pathname.startsWith('/api/chat/')) return next()
    const route = `${req.method} ${url.pathname}`
    const streamId = url.searchParams.get('stream_id') ?? ''
    const sessionId = url.searchParams.get('session_id') ?? ''
    const run = runs.get(streamId)
    switch (route) {
      case 'POST /api/chat/start':
      case 'POST /api/chat/server-turn': {
        // server-turn: a run the server starts by itself (cron, self-wake), announced on the session channel.
        // stream_id_prefix: a test knob for ids that must be URL-encoded (`#`, `&`).
        const body = JSON.parse((await readBody(req)) || '{}') as { session_id?: string; message?: string; faults?: RunFaults; stream_id_prefix?: string } & Partial<RunSettings>
        if (!body.session_id || typeof body.message !== 'string') return json(res, 400, { error: 'session_id and message are required' })
        const active = [...runs.values()].find((r) => r.sessionId === body.session_id && !r.finished)
        if (active) return json(res, 409, { error: 'session already has a running stream', active_stream_id: active.streamId })
        const settings = { ...SETTINGS_DEFAULTS, ...pick(body, ['tokens', 'rate', 'heartbeatMs', 'stamp', 'wire', 'end', 'ignoreCursor']) }
        const started = startRun(body.session_id, body.message, settings, { ...body.faults }, body.stream_id_prefix)
        if (route === 'POST /api/chat/server-turn') channels.announce(started.sessionId, started.streamId)
        return json(res, 200, { stream_id: started.streamId, session_id: started.sessionId })
      }
      case 'GET /api/chat/session-events': {
        const live = [...runs.values()].filter((r) => r.sessionId === sessionId && !r.finished).map((r) => r.streamId)
        if (!channels.subscribe(sessionId, res, live)) return json(res, 503, { error: 'the session channel is down' })
        return
      }
      case 'POST /api/chat/session-events/outage': {
        const { ms = 1000 } = JSON.parse((await readBody(req)) || '{}') as { ms?: number }
        channels.outage(sessionId, ms)
        return json(res, 200, { ok: true })
      }
      case 'GET /api/chat/session-events/stats':
        return json(res, 200, channels.stats(sessionId))
      case 'GET /api/chat/stream':
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        return stream(run, url, req, res)
      case 'GET /api/chat/stream/status':
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        return json(res, 200, { active: !run.finished, replay_available: true, journal: { last_seq: run.journal.length } })
      case 'GET /api/chat/cancel':
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        if (!run.finished) append(run, 'cancel', {})
        return json(res, 200, { ok: true, cancelled: true })
      case 'GET /api/chat/transcript':
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        return json(res, 200, { finished: run.finished, events: run.journal, wire: wireTranscript(run) })
      case 'POST /api/chat/faults': {
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        run.faults = JSON.parse((await readBody(req)) || '{}') as RunFaults
        return json(res, 200, { ok: true })
      }
      case 'POST /api/chat/cut': {
        // The network between browser and server fails: every open response of the run is destroyed.
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        for (const client of run.clients) client.destroy()
        return json(res, 200, { ok: true })
      }
      case 'POST /api/chat/restart': {
        if (!run) return json(res, 404, { error: `unknown stream ${streamId}` })
        const how = JSON.parse((await readBody(req)) || '{}') as Partial<Restart>
        restart(run, { journal: how.journal ?? 'keep', worker: how.worker ?? 'continue' })
        return json(res, 200, { ok: true })
      }
      case 'GET /api/chat/stats': {
        const streams = Object.fromEntries([...runs.values()].filter((r) => !streamId || r.streamId === streamId).map((r) => [r.streamId, stats(r)]))
        return json(res, 200, { streams })
      }
      default:
        return json(res, 404, { error: `no route ${route}` })
    }
  }
}

/** What a full replay of the run sends, event by event, in its wire mode. */
function wireTranscript(run: ServerRun): WireEvent[] {
  return run.journal.flatMap((entry) => wireEventsOf(run.settings.wire, run.settings.end, run.streamId, entry))
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => resolve(body))
    req.on('error', reject)
  })
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((key) => ['number', 'boolean', 'string'].includes(typeof source[key])).map((key) => [key, source[key]])) as Partial<Pick<T, K>>
}

/** The dev chat server as a Vite plugin (dev, preview, and the vitest browser server). */
export function chatServerPlugin(): Plugin {
  const handle = createChatServer()
  // Returns nothing on purpose: a function returned from configureServer would run as a post hook.
  const mount = (server: { middlewares: { use(fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): unknown } }): void => {
    server.middlewares.use((req, res, next) => void handle(req, res, next).catch((error: unknown) => json(res, 500, { error: String(error) })))
  }
  return { name: 'run-relay-chat-server', configureServer: mount, configurePreviewServer: mount }
}
