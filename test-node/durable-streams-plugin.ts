import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Plugin } from 'vite'

/**
 * For the browser tests against a Durable Streams server (test/durable-streams.test.ts): the real
 * `@durable-streams/server` (the protocol's reference server), started on the first request and
 * stopped with the dev server, behind a proxy under `/ds/` on the test page's origin. The proxy
 * can fail the way networks and servers do, per request path:
 * - `/ds/v1/stream/<name>`: proxied as is;
 * - `/ds/cut-<n>/v1/stream/<name>`: the first SSE response of the stream is cut (its socket
 *   destroyed, not a clean end) right before its data event number `n` + 1;
 * - `/ds/close-<ms>/v1/stream/<name>`: every SSE response ends cleanly after `ms`, as the protocol
 *   says servers should (about every 60 s), only sooner;
 * - `/ds/slow-<ms>/v1/stream/<name>`: the answer waits `ms` before it starts (a slow server).
 * Beside it:
 * - `POST /ds-produce?stream=<name>&count=N&everyMs=M&type=<content type>`: creates the stream, appends
 *   `{"n":i,"text":...}` N times (as UTF-8 bytes for a binary type, which the server sends as
 *   base64), M ms apart, then closes it. Answers at once, the appends going on in the background,
 *   or with `wait=1` once the stream is closed.
 * - `GET /ds-log?stream=<name>`: the query strings of the SSE requests the proxy forwarded, and
 *   `maxOpen`: the most SSE requests of the stream whose sockets were open at once, and
 *   `socketMs`: how long each closed one's socket lived.
 */
export function durableStreamsPlugin(): Plugin {
  let server: Promise<{ url: string; stop(): Promise<void> }> | undefined
  const requests = new Map<string, string[]>()
  /** SSE responses open now per stream, and the most ever open at once (as the server side sees sockets). */
  const open = new Map<string, { now: number; max: number; socketMs: number[] }>()
  const cutDone = new Set<string>()
  /** The dev server is closing: a producer still appending stops quietly. */
  let stopped = false

  async function up() {
    const { DurableStreamTestServer } = await import('@durable-streams/server')
    // Idle, the server sends a control event per long-poll timeout: a short one keeps idle tests quick.
    const instance = new DurableStreamTestServer({ port: 0, longPollTimeout: 2_000 })
    const url = await instance.start()
    return { url, stop: () => instance.stop() }
  }

  async function produce(base: string, name: string, count: number, everyMs: number, type: string): Promise<void> {
    const stream = `${base}/v1/stream/${name}`
    const created = await fetch(stream, { method: 'PUT', headers: { 'content-type': type } })
    if (!created.ok) throw new Error(`PUT ${stream}: ${created.status}`)
    for (let n = 0; n < count; n++) {
      const message = JSON.stringify({ n, text: `message ${n} é` })
      await fetch(stream, { method: 'POST', headers: { 'content-type': type }, body: type === 'application/json' ? message : new TextEncoder().encode(message) })
      if (everyMs > 0) await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
    await fetch(stream, { method: 'POST', headers: { 'content-type': type, 'Stream-Closed': 'true' } })
  }

  function forward(target: string, path: string, req: IncomingMessage, res: ServerResponse, fault: { cutAfter?: number; closeAfterMs?: number }): void {
    const upstream = httpRequest(`${target}${path}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      let data = 0
      const timer = fault.closeAfterMs === undefined ? undefined : setTimeout(() => {
        answer.destroy()
        if (!res.writableEnded) res.end() // a clean end, wherever the stream stands
      }, fault.closeAfterMs)
      answer.on('data', (chunk: Buffer) => {
        if (res.writableEnded || res.destroyed) return
        if (fault.cutAfter === undefined) return void res.write(chunk)
        // Pass events up to the cut-th data event, exactly: the cut falls before the next one, even inside a catch-up burst.
        const text = chunk.toString()
        const starts = [...text.matchAll(/^event: data$/gm)].map((match) => match.index)
        const cutAt = starts[fault.cutAfter - data]
        data += starts.length
        if (cutAt === undefined) return void res.write(chunk)
        res.write(text.slice(0, cutAt))
        answer.destroy()
        // A cut: the socket ends (after what was written is flushed) while the chunked body has not.
        res.socket?.end()
      })
      answer.on('end', () => {
        clearTimeout(timer)
        if (!res.writableEnded) res.end()
      })
      answer.on('error', () => res.writableEnded || res.destroy())
    })
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ error: String(error) }))
    })
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  }

  async function handle(req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (url.pathname === '/ds-produce' && req.method === 'POST') {
      const { url: base } = await (server ??= up())
      const q = url.searchParams
      const done = produce(base, q.get('stream')!, Number(q.get('count') ?? 10), Number(q.get('everyMs') ?? 0), q.get('type') ?? 'application/json')
      if (q.get('wait') === '1') await done
      else done.catch((error: unknown) => stopped || console.error('ds-produce:', error))
      return json(200, { ok: true })
    }
    if (url.pathname === '/ds-log') {
      const stream = url.searchParams.get('stream') ?? ''
      return json(200, { requests: requests.get(stream) ?? [], maxOpen: open.get(stream)?.max ?? 0, socketMs: open.get(stream)?.socketMs ?? [] })
    }
    const match = /^\/ds(?:\/(cut|close|slow)-(\d+))?(\/v1\/stream\/([^/?]+))$/.exec(url.pathname)
    if (!match) return next()
    const [, faultKind, faultValue, path, name] = match as unknown as [string, string | undefined, string | undefined, string, string]
    const { url: base } = await (server ??= up())
    const sse = url.searchParams.get('live') === 'sse'
    if (sse) {
      requests.set(name, [...(requests.get(name) ?? []), url.search])
      const count = open.get(name) ?? { now: 0, max: 0, socketMs: [] }
      open.set(name, count)
      count.now++
      count.max = Math.max(count.max, count.now)
      // Until the socket closes: an aborted request whose socket the browser keeps still counts.
      const since = Date.now()
      res.socket?.once('close', () => {
        count.now--
        count.socketMs.push(Date.now() - since)
      })
    }
    const fault: { cutAfter?: number; closeAfterMs?: number } = {}
    if (sse && faultKind === 'cut' && !cutDone.has(name)) {
      cutDone.add(name)
      fault.cutAfter = Number(faultValue)
    }
    if (sse && faultKind === 'close') fault.closeAfterMs = Number(faultValue)
    if (faultKind === 'slow') await new Promise((resolve) => setTimeout(resolve, Number(faultValue)))
    if (res.destroyed || res.socket?.destroyed) return
    forward(base, path + url.search, req, res, fault)
  }

  return {
    name: 'durable-streams',
    configureServer(vite) {
      vite.middlewares.use((req, res, next) => void handle(req, res, next).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ error: String(error) }))
      }))
      vite.httpServer?.once('close', () => {
        stopped = true
        void server?.then((s) => s.stop()).catch(() => {})
      })
    },
  }
}
