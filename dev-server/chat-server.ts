import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Plugin } from 'vite'
import { handleHostile } from './hostile.ts'
import { replyTokens } from './prose.ts'
import { createSessionChannels } from './session-channel.ts'
import { faultyFormat, withWireFaults } from './wire-faults.ts'
import { replaysFromStart, seqOfWireId, wireEventsOf, type EndMode, type WireMode } from './wire.ts'
import { createRunHost, memoryRunLog, nothingMoreAfter, runEventStream, toNodeListener, type LogEntry, type RunLog, type RunProducer } from '../server/index.ts'
import { ABANDONED_ENTRY, cursorRequest } from '../protocol/reference.ts'

/**
 * A dev chat server speaking the reference protocol (README.md: *Server contract*, preset `reference`)
 * on run-relay/server, mounted as Vite middleware so `vite`, `vite preview` and the vitest browser
 * server all serve it, and standalone by `npm run serve` (scripts/serve.ts). Runs progress on the
 * server whether or not anyone reads them, and every event is in the run log for replay.
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
  /** Generate nothing while set (a turn kept mid-run while a test moves its hub); the pace resumes where it was. */
  hold?: boolean
}

/** A server restart: what survives it. */
export interface Restart {
  /** `keep`: the journal persists; `trim`: events before the restart and 3 during it cannot be replayed; `lose`: the run is unknown. */
  journal: 'keep' | 'trim' | 'lose'
  /** `continue`: the run goes on; `stop`: it never finishes (replays end with a synthetic apperror). */
  worker: 'continue' | 'stop'
}
interface ServerRun {
  streamId: string
  sessionId: string
  settings: RunSettings
  faults: RunFaults
  /** The run's producer, when this process generates it (a run started on another instance has none here). */
  producer?: RunProducer
  /** Events this process generated for the run: the seq of the next one is this + 1 (one writer per run). */
  produced: number
  /** Entries before this seq are not replayed (a restart that trimmed the journal). */
  floorSeq: number
  /** The seq of the `apperror` a stopped worker left: not part of the journal, sent without an id. */
  syntheticSeq?: number
  /** Open stream responses of this run, in this process. */
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
}

/** The deterministic reply to a prompt, token by token (see `prose.ts`): test transcripts can be predicted and compared. */
export function tokenText(prompt: string, index: number): string {
  const tokens = replyTokens(prompt)
  return tokens[index % tokens.length]!
}

export interface ChatServerOptions {
  /** Where runs live: share one Redis log between instances (`npm run serve -- --redis URL`). @defaultValue memoryRunLog() */
  log?: RunLog
}

/** Waits `ms`, or less: an abort (a cancel, from any instance) ends the wait at once. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * The dev chat server: its runs are produced through run-relay/server's `RunProducer` into a
 * `RunLog` and streamed by its `runEventStream` (through `toNodeListener`), with the test knobs
 * (faults, wire modes, restarts, stats) around them. Returns a Connect-style middleware.
 * Over a shared log, any instance streams, cancels and reports any run; the knobs and the
 * connection stats are this process's own (a run started elsewhere is served plainly).
 */
export function createChatServer(options: ChatServerOptions = {}) {
  const log = options.log ?? memoryRunLog()
  let idPrefix = ''
  let nextId = 1
  // `start` takes the run's id from here at once, before its first await: the prefix is the current request's.
  const host = createRunHost({ log, newRunId: () => `${idPrefix}s${nextId++}-${Math.random().toString(36).slice(2, 8)}` })
  const runs = new Map<string, ServerRun>()
  /** Runs a restart made this server forget (`journal: 'lose'`): unknown here, even though the log has them. */
  const forgotten = new Set<string>()
  const channels = createSessionChannels()

  function newRun(streamId: string, sessionId: string, settings: RunSettings, faults: RunFaults): ServerRun {
    const run: ServerRun = { streamId, sessionId, settings, faults, produced: 0, floorSeq: 1, clients: new Set(), opened: 0, live: 0, maxLive: 0, overlapMs: 0, liveSince: new Set(), probes: 0, refused: 0, cursors: [] }
    runs.set(streamId, run)
    return run
  }

  /** The run by id: this process's, or one the shared log has (started on another instance: default settings, no faults). */
  async function runOf(streamId: string, wire: WireMode = 'reference'): Promise<ServerRun | undefined> {
    if (forgotten.has(streamId)) return undefined
    const known = runs.get(streamId)
    if (known) return known
    const record = streamId ? await log.record(streamId) : undefined
    return record ? (runs.get(streamId) ?? newRun(streamId, record.sessionId, { ...SETTINGS_DEFAULTS, wire }, {})) : undefined
  }

  /** The run's journal length: the log's last seq, less a stopped worker's synthetic `apperror`. */
  function journalLength(run: ServerRun, lastSeq: number): number {
    return run.syntheticSeq !== undefined && lastSeq >= run.syntheticSeq ? run.syntheticSeq - 1 : lastSeq
  }

  /** Emits one event of a run this process generates, with the faults that shape what is stored. */
  function append(run: ServerRun, event: string, payload: unknown): void {
    const seq = ++run.produced
    run.producer!.emit(event, seq === run.faults.oversizeAt ? { text: 'x'.repeat(2 * 1024 * 1024) } : payload)
  }

  /**
   * The run's generator: `tokens` tokens (0: the whole reply once) at `rate` per second, a tool
   * call halfway, metering every second, then done, metering, title (the host appends `stream_end`).
   * It emits what the rate allows by now on each tick, so slow timers do not slow the run.
   */
  async function generate(run: ServerRun, prompt: string): Promise<void> {
    const { settings } = run
    const { signal } = run.producer!
    const total = settings.tokens > 0 ? settings.tokens : replyTokens(prompt).length
    let started = Date.now()
    let lastMetering = started
    const tickMs = Math.max(5, 1000 / settings.rate)
    for (let index = 0; ; ) {
      await sleep(tickMs, signal)
      if (signal.aborted) return
      if (run.faults.hold) {
        const heldSince = Date.now()
        while (run.faults.hold && !signal.aborted) await sleep(tickMs, signal)
        started += Date.now() - heldSince // the time held does not count toward the pace
        continue
      }
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
        append(run, 'done', { session: run.sessionId, usage: { output_tokens: total } })
        append(run, 'metering', { tokens: index })
        append(run, 'title', { title: prompt.slice(0, 40) })
        return
      }
    }
  }

  /** Starts a run in the log, or answers which run keeps its session busy. */
  async function startRun(sessionId: string, prompt: string, settings: RunSettings, faults: RunFaults, prefix = ''): Promise<ServerRun | { activeRunId: string }> {
    // The generator may be called before `start` resolves: it waits for the run's record here.
    let ready!: (run: ServerRun) => void
    const made = new Promise<ServerRun>((resolve) => (ready = resolve))
    idPrefix = prefix
    const started = host.start(sessionId, async () => generate(await made, prompt))
    idPrefix = ''
    const result = await started
    if (!result.ok) {
      if ('runIdTaken' in result) throw new Error(`run id ${result.runIdTaken} was taken`)
      return { activeRunId: result.activeRunId }
    }
    const run = newRun(result.runId, sessionId, settings, faults)
    run.producer = result.producer
    ready(run)
    return run
  }

  /** [protocol] query `after_seq` / `after_event_id` / `replay=1` win over Last-Event-ID; none: live only. */
  function cursorOf(run: ServerRun, url: URL, req: IncomingMessage, journal: number): { afterSeq: number | 'live'; asked: string } {
    // A malformed or foreign cursor replays from the start.
    const parseEventId = (value: string) => seqOfWireId(run.settings.wire, run.streamId, value, journal) ?? 0
    if (replaysFromStart(run.settings.wire) || run.settings.ignoreCursor) return { afterSeq: 0, asked: 'replay (no seek)' }
    const header = req.headers['last-event-id']
    const asked = cursorRequest(url.searchParams, typeof header === 'string' ? header : undefined)
    switch (asked.kind) {
      case 'seq':
        return { afterSeq: asked.seq, asked: asked.asked }
      case 'event-id':
        return { afterSeq: parseEventId(asked.id), asked: asked.asked }
      case 'replay':
        return { afterSeq: 0, asked: asked.asked }
      case 'none':
        // [protocol] The reference server's fresh subscribe replays nothing; a generic server streams the run from its start.
        return { afterSeq: run.settings.wire === 'reference' ? 'live' : 0, asked: asked.asked }
    }
  }

  async function stream(run: ServerRun, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    const lastSeq = (await log.record(run.streamId))?.lastSeq ?? 0
    const { afterSeq, asked } = cursorOf(run, url, req, journalLength(run, lastSeq))
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
    const format = faultyFormat(run)
    // Entries a trimming restart lost are never replayed.
    const from = afterSeq === 'live' ? afterSeq : Math.max(afterSeq, run.floorSeq - 1)
    const record = await log.record(run.streamId)
    if (record && nothingMoreAfter(record, from)) {
      res.writeHead(204)
      return void res.end()
    }
    const body = withWireFaults(runEventStream(log, run.streamId, { afterSeq: from, format, heartbeatMs: run.settings.heartbeatMs }))
    run.clients.add(res)
    res.on('close', () => run.clients.delete(res))
    // The request as a GET: a POST's body (the AI SDK's turn) was read already, and the stream needs none.
    const asGet = { method: 'GET', url: req.url, headers: req.headers, on: () => asGet }
    await toNodeListener(() => new Response(body, { status: 200, headers: format.headers }))(asGet, res)
  }

  /** Simulates a server restart for one run: every connection dies; `how` says what survives. */
  async function restart(run: ServerRun, how: Restart): Promise<void> {
    for (const client of run.clients) client.destroy()
    const record = await log.record(run.streamId)
    const running = record !== undefined && !record.ended
    if (how.journal === 'lose') {
      runs.delete(run.streamId)
      forgotten.add(run.streamId)
    }
    if (how.journal === 'trim' && running && run.producer) {
      // Events the run produced while the server restarted, that no journal kept.
      for (let i = 0; i < 3; i++) append(run, 'token', { text: '(lost) ' })
      await run.producer.flush()
      run.floorSeq = run.producer.lastSeq + 1
    }
    if ((how.worker === 'stop' || how.journal === 'lose') && running) {
      // The worker is gone: the run ends in the log (which frees its session and stops the
      // generator), with an apperror that replays send as a server that lost the run would.
      const ended = await log.endRun(run.streamId, ABANDONED_ENTRY, 'running')
      if (ended.ok) run.syntheticSeq = ended.lastSeq
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

  async function stats(run: ServerRun) {
    const record = await log.record(run.streamId)
    const finished = !record || record.ended
    return { sessionId: run.sessionId, open: run.clients.size, opened: run.opened, maxOpen: run.maxLive, overlapMs: Math.round(run.overlapMs), probes: run.probes, refused: run.refused, cursors: run.cursors, lastSeq: journalLength(run, record?.lastSeq ?? 0), finished }
  }

  /** The run's journal: every entry in the log, less a stopped worker's synthetic `apperror`. */
  async function journalOf(run: ServerRun): Promise<{ finished: boolean; events: LogEntry[] }> {
    const events: LogEntry[] = []
    for (;;) {
      const page = await log.read(run.streamId, events.length, 1000)
      events.push(...page)
      if (page.length < 1000) break
    }
    const record = await log.record(run.streamId)
    return { finished: !record || record.ended, events: events.slice(0, journalLength(run, events.length)) }
  }

  /** The session's live run, if this server knows it. */
  /** POSTs of `/api/chat` received per chat id. */
  const chatPosts = new Map<string, number>()

  async function activeRun(sessionId: string, wire?: WireMode): Promise<ServerRun | undefined> {
    const runId = await log.activeRun(sessionId)
    return runId === undefined ? undefined : runOf(runId, wire)
  }

  /**
   * The AI SDK's endpoints, speaking its UI message stream: `POST /api/chat` starts a turn
   * (session = the chat id) and answers with its stream; `GET /api/chat/{id}/stream` replays
   * the chat's active stream from its first chunk, or answers 204 when none runs;
   * `DELETE /api/chat/{id}/stream` stops it.
   */
  async function aiSdk(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // Tests count the turns' POSTs per chat: a recovery must never send one twice.
    if (req.method === 'GET' && url.pathname === '/api/ai/chat/posts') return json(res, 200, { posts: chatPosts.get(url.searchParams.get('id') ?? '') ?? 0 })
    const resume = /^\/api(?:\/ai)?\/chat\/([^/]+)\/stream$/.exec(url.pathname)
    if ((req.method === 'GET' || req.method === 'DELETE') && resume) {
      const active = await activeRun(decodeURIComponent(resume[1]!), 'ai-sdk')
      if (req.method === 'DELETE') return json(res, 200, { ok: true, cancelled: active !== undefined && (await host.cancel(active.streamId)) === 'cancelled' })
      if (!active) {
        res.writeHead(204)
        return void res.end()
      }
      return stream(active, url, req, res)
    }
    if (req.method === 'POST' && (url.pathname === '/api/ai/chat' || url.pathname === '/api/chat')) {
      const body = JSON.parse((await readBody(req)) || '{}') as { id?: string; messages?: Array<{ role: string; parts?: Array<{ type: string; text?: string }> }> } & Partial<RunSettings>
      if (!body.id || !Array.isArray(body.messages)) return json(res, 400, { error: 'id and messages are required' })
      chatPosts.set(body.id, (chatPosts.get(body.id) ?? 0) + 1)
      const last = body.messages.filter((m) => m.role === 'user').at(-1)
      const prompt = last?.parts?.filter((p) => p.type === 'text').map((p) => p.text).join('') ?? ''
      const settings = { ...SETTINGS_DEFAULTS, tokens: 0, ...pick(body, ['tokens', 'rate']), wire: 'ai-sdk' as const }
      const started = await startRun(body.id, prompt, settings, {})
      if ('activeRunId' in started) return json(res, 409, { error: 'this chat already has a running turn: resume it with GET, or stop it with DELETE', active_stream_id: started.activeRunId })
      return stream(started, url, req, res)
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
    const runRoutes = ['GET /api/chat/stream', 'GET /api/chat/stream/status', 'GET /api/chat/cancel', 'GET /api/chat/transcript', 'POST /api/chat/faults', 'POST /api/chat/cut', 'POST /api/chat/restart']
    const run = runRoutes.includes(route) ? await runOf(streamId) : undefined
    if (runRoutes.includes(route) && !run) return json(res, 404, { error: `unknown stream ${streamId}` })
    switch (route) {
      case 'POST /api/chat/start':
      case 'POST /api/chat/server-turn': {
        // server-turn: a run the server starts by itself (cron, self-wake), announced on the session channel.
        // stream_id_prefix: a test knob for ids that must be URL-encoded (`#`, `&`).
        const body = JSON.parse((await readBody(req)) || '{}') as { session_id?: string; message?: string; faults?: RunFaults; stream_id_prefix?: string } & Partial<RunSettings>
        if (!body.session_id || typeof body.message !== 'string') return json(res, 400, { error: 'session_id and message are required' })
        const settings = { ...SETTINGS_DEFAULTS, ...pick(body, ['tokens', 'rate', 'heartbeatMs', 'stamp', 'wire', 'end', 'ignoreCursor']) }
        const started = await startRun(body.session_id, body.message, settings, { ...body.faults }, body.stream_id_prefix)
        if ('activeRunId' in started) return json(res, 409, { error: 'session already has a running stream', active_stream_id: started.activeRunId })
        if (route === 'POST /api/chat/server-turn') channels.announce(started.sessionId, started.streamId)
        return json(res, 200, { stream_id: started.streamId, session_id: started.sessionId })
      }
      case 'GET /api/chat/session-events': {
        const active = await activeRun(sessionId)
        if (!channels.subscribe(sessionId, res, active ? [active.streamId] : [])) return json(res, 503, { error: 'the session channel is down' })
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
        return stream(run!, url, req, res)
      case 'GET /api/chat/stream/status': {
        const record = await log.record(run!.streamId)
        return json(res, 200, { active: record !== undefined && !record.ended, replay_available: true, journal: { last_seq: journalLength(run!, record?.lastSeq ?? 0) } })
      }
      case 'GET /api/chat/cancel':
        await host.cancel(run!.streamId)
        return json(res, 200, { ok: true, cancelled: true })
      case 'GET /api/chat/transcript': {
        const { finished, events } = await journalOf(run!)
        return json(res, 200, { finished, events, wire: events.flatMap((entry) => wireEventsOf(run!.settings.wire, run!.settings.end, run!.streamId, entry)) })
      }
      case 'POST /api/chat/faults':
        run!.faults = JSON.parse((await readBody(req)) || '{}') as RunFaults
        return json(res, 200, { ok: true })
      case 'POST /api/chat/cut':
        // The network between browser and server fails: every open response of the run is destroyed.
        for (const client of run!.clients) client.destroy()
        return json(res, 200, { ok: true })
      case 'POST /api/chat/restart': {
        const how = JSON.parse((await readBody(req)) || '{}') as Partial<Restart>
        await restart(run!, { journal: how.journal ?? 'keep', worker: how.worker ?? 'continue' })
        return json(res, 200, { ok: true })
      }
      case 'GET /api/chat/stats': {
        const shown = [...runs.values()].filter((r) => !streamId || r.streamId === streamId)
        return json(res, 200, { streams: Object.fromEntries(await Promise.all(shown.map(async (r) => [r.streamId, await stats(r)]))) })
      }
      default:
        return json(res, 404, { error: `no route ${route}` })
    }
  }
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
