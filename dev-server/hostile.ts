import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

/**
 * Hostile-server endpoints for the wire tests (issue 16): a stream shaped by its query string,
 * redirects, and a request log per `key`. Every answer allows CORS from the asking origin, with
 * credentials, so a page on another origin (localhost ↔ 127.0.0.1) can read it, as an attacker's
 * server would allow.
 *
 * `GET /api/hostile/sse` takes:
 * - `ids`: comma-separated event ids (URL-encoded), one `token` event each; `endId`: the id of the
 *   closing `stream_end` (none by default); `noEnd=1`: no `stream_end`.
 * - A reconnect resumes after the `Last-Event-ID` header (its UTF-8 bytes, as EventSource sends
 *   them) or the `after_event_id` parameter, when it names one of the ids; otherwise from the start.
 * - `eol`: `lf` (default), `cr` or `crlf`; `gapMs`: a pause between events, each its own write.
 * - `hold=1`: keep the response open after the last event; `dropAfter=N`: cut the first response after N
 *   events (its socket closes before the body ends: a network error, not a clean end).
 * - `status`, `times` (default: always), `retryAfter`: answer with that status instead, `times` times.
 * - `ctype`: the Content-Type to answer with; `needCookie=1`: 401 without the cookie `relay_auth=1`.
 * - `unterminated=N`: `data: ` and then N characters without a line end, then hold.
 * - `interrupted=1`: end with the reference server's `apperror` without an id, `recovery_control: true` (it cannot replay).
 * - `nocors=1`: no CORS headers at all, on the preflight too: another origin's page cannot read it.
 * - `straddle=1`: an event whose `é` is split across two writes, a second event, then a byte that is
 *   not UTF-8 in that same second write.
 * `GET /api/hostile/redirect?to=URL&status=302` answers a redirect; `GET /api/hostile/login` sets the
 * cookie; `GET /api/hostile/log?key=K` lists the requests made with `key=K`.
 * `GET /api/hostile/peer` answers `{ origin }`: the same endpoints on another port of this host, a
 * cross-origin but same-site server (cookies are per host, not per port, so a page's cookie reaches it).
 */

interface LoggedRequest {
  at: number
  method: string
  url: string
  lastEventId: string | undefined
  probe: boolean
  cookie: boolean
}

const logs = new Map<string, LoggedRequest[]>()

export function handleHostile(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const origin = req.headers.origin
  // `nocors=1`: a server that answers without any CORS header (and so refuses every other origin).
  const cors: Record<string, string> = origin && url.searchParams.get('nocors') !== '1' ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', 'Access-Control-Allow-Headers': '*', 'Access-Control-Expose-Headers': '*' } : {}
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'last-event-id, x-run-relay-probe, accept' })
    return void res.end()
  }
  const q = url.searchParams
  const key = q.get('key') ?? ''
  const hasCookie = /(?:^|;\s*)relay_auth=1/.test(req.headers.cookie ?? '')
  switch (url.pathname) {
    case '/api/hostile/peer':
      return void peerPort().then((port) => json(res, 200, cors, { origin: `http://${(req.headers.host ?? 'localhost').replace(/:\d+$/, '')}:${port}` }))
    case '/api/hostile/log':
      return json(res, 200, cors, { requests: logs.get(key) ?? [] })
    case '/api/hostile/login':
      res.writeHead(200, { ...cors, 'Set-Cookie': 'relay_auth=1; Path=/; SameSite=Lax', 'Content-Type': 'text/plain' })
      return void res.end('signed in')
    case '/api/hostile/redirect':
      res.writeHead(Number(q.get('status') ?? 302), { ...cors, Location: q.get('to') ?? '/' })
      return void res.end()
    case '/api/hostile/sse':
      break
    default:
      return json(res, 404, cors, { error: `no hostile route ${url.pathname}` })
  }
  const header = req.headers['last-event-id']
  // Node reads header bytes as Latin-1; EventSource sends the id's UTF-8 bytes.
  const lastEventId = typeof header === 'string' ? Buffer.from(header, 'latin1').toString('utf8') : undefined
  const requests = logs.get(key) ?? []
  logs.set(key, requests)
  const probe = req.headers['x-run-relay-probe'] !== undefined
  requests.push({ at: Date.now(), method: req.method ?? 'GET', url: url.pathname + url.search, lastEventId, probe, cookie: hasCookie })
  const streams = requests.filter((r) => !r.probe).length

  const status = q.get('status')
  const times = Number(q.get('times') ?? Infinity)
  // The k-th stream request (and the probe after it) is refused while k <= times.
  if (q.get('needCookie') === '1' && !hasCookie) return json(res, 401, cors, { error: 'sign in' })
  if (status !== null && streams <= times) {
    const headers: Record<string, string> = { ...cors, 'Content-Type': 'application/json' }
    if (q.get('retryAfter') !== null) headers['Retry-After'] = q.get('retryAfter')!
    return json(res, Number(status), headers, { error: `hostile status ${status}` })
  }
  res.writeHead(200, { ...cors, 'Content-Type': q.get('ctype') ?? 'text/event-stream', 'Cache-Control': 'no-cache' })
  if (probe) return void res.end()

  if (q.get('unterminated') !== null) return void unterminated(res, Number(q.get('unterminated')))
  if (q.get('straddle') === '1') return void straddle(res)

  const eol = { lf: '\n', cr: '\r', crlf: '\r\n' }[q.get('eol') ?? 'lf'] ?? '\n'
  const ids = (q.get('ids') ?? '').split(',').filter(Boolean)
  const resumeFrom = lastEventId ?? q.get('after_event_id') ?? undefined
  const start = resumeFrom !== undefined && ids.includes(resumeFrom) ? ids.indexOf(resumeFrom) + 1 : 0
  const frames = ids.slice(start).map((id) => `id: ${id}${eol}event: token${eol}data: ${JSON.stringify({ text: `${id} ` })}${eol}${eol}`)
  const endId = q.get('endId')
  // `interrupted=1`: end as the reference server does when it cannot replay the run: an `apperror` without an id, marked `recovery_control`.
  if (q.get('interrupted') === '1') frames.push(`event: apperror${eol}data: ${JSON.stringify({ type: 'interrupted', recovery_control: true, message: 'the live worker stopped and the journal is gone' })}${eol}${eol}`)
  else if (q.get('noEnd') !== '1') frames.push(`${endId === null ? '' : `id: ${endId}${eol}`}event: stream_end${eol}data: {}${eol}${eol}`)
  const dropAfter = streams === 1 && q.get('dropAfter') !== null ? Number(q.get('dropAfter')) : Infinity
  const gapMs = Number(q.get('gapMs') ?? 0)
  const hold = q.get('hold') === '1'
  let sent = 0
  const next = (): void => {
    if (res.destroyed) return
    if (sent >= dropAfter) return void res.socket?.end() // a cut: the chunked body never ends cleanly
    if (sent >= frames.length) {
      if (!hold) res.end()
      return
    }
    if (gapMs === 0) {
      res.write(frames.slice(sent, Math.min(frames.length, dropAfter)).join(''))
      sent = Math.min(frames.length, dropAfter)
    } else res.write(frames[sent++])
    setTimeout(next, gapMs)
  }
  next()
}

/** `data: ` and then `length` characters without a line end, 64 KiB a write, as fast as the client reads. */
function unterminated(res: ServerResponse, length: number): void {
  res.write('data: ')
  const block = 'x'.repeat(64 * 1024)
  let left = length
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      left -= block.length
      if (!res.write(block)) return void res.once('drain', pump)
    }
  }
  pump()
}

/** Two writes: `data: {"text":"caf` + the first byte of `é`; then its second byte, the rest, a second event, and 0xFF. */
function straddle(res: ServerResponse): void {
  res.write(Buffer.concat([Buffer.from('id: u1\nevent: token\ndata: {"text":"caf'), Buffer.from([0xc3])]))
  setTimeout(() => {
    if (res.destroyed) return
    res.write(Buffer.concat([Buffer.from([0xa9]), Buffer.from('"}\n\nid: u2\nevent: token\ndata: {"text":"ok"}\n\ndata: '), Buffer.from([0xff]), Buffer.from('\n\n')]))
    res.end()
  }, 150)
}

function json(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

let peer: Promise<number> | undefined

/** The peer server, started on first use on a free port; `unref`: it never keeps the process alive. */
function peerPort(): Promise<number> {
  peer ??= new Promise((resolve, reject) => {
    const server: Server = createServer((req, res) => handleHostile(req, res, new URL(req.url ?? '/', 'http://peer')))
    server.on('error', reject)
    server.listen(0, () => {
      server.unref()
      resolve((server.address() as { port: number }).port)
    })
  })
  return peer
}
