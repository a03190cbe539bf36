import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createSecureServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Plugin } from 'vite'

/**
 * For the browser tests of the connection budget over HTTP/2 (test/http2.test.ts): a real HTTP/2
 * server (`node:http2` over TLS with a self-signed certificate made by openssl at start; the test
 * browsers accept it), on another origin, started on the first request and stopped with the dev
 * server. Browsers speak HTTP/2 only over TLS.
 * - `GET /h2/origin` (dev server): starts it, answers `{ origin }`;
 * - `GET /h2/log?key=K` (dev server): `{ opened, maxOpen }`: stream requests with `key=K`, and the
 *   most of them open at once, as the server saw them;
 * - `GET <origin>/sse?key=K&run=R&tokens=N&rate=T` (the HTTP/2 server): a reference-protocol run,
 *   `id: R:<seq>` tokens then `stream_end`, with CORS for any origin.
 */
export function http2Plugin(): Plugin {
  let server: Promise<{ origin: string; close(): void }> | undefined
  const logs = new Map<string, { opened: number; open: number; maxOpen: number }>()

  function certificate(): { key: Buffer; cert: Buffer } {
    const dir = mkdtempSync(join(tmpdir(), 'run-relay-h2-'))
    try {
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' })
      if (made.status !== 0) throw new Error(`openssl could not make a certificate for the HTTP/2 tests (install openssl): ${made.stderr || made.error}`)
      return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const cors = { 'access-control-allow-origin': String(headers.origin ?? '*'), 'access-control-allow-headers': '*', 'access-control-allow-methods': 'GET, HEAD, OPTIONS', 'timing-allow-origin': '*' }
    if (headers[':method'] === 'OPTIONS') return void stream.respond({ ':status': 204, ...cors }, { endStream: true })
    const url = new URL(String(headers[':path']), 'https://localhost')
    if (url.pathname !== '/sse') return void stream.respond({ ':status': 404, ...cors }, { endStream: true })
    const q = url.searchParams
    const log = logs.get(q.get('key') ?? '') ?? { opened: 0, open: 0, maxOpen: 0 }
    logs.set(q.get('key') ?? '', log)
    log.opened++
    log.open++
    log.maxOpen = Math.max(log.maxOpen, log.open)
    stream.once('close', () => log.open--)
    stream.respond({ ':status': 200, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...cors })
    const run = q.get('run') ?? 'r'
    const tokens = Number(q.get('tokens') ?? 20)
    const after = Number(q.get('after_seq') ?? 0)
    const gapMs = 1000 / Number(q.get('rate') ?? 20)
    let seq = after
    const timer = setInterval(() => {
      if (stream.destroyed || stream.closed) return clearInterval(timer)
      seq++
      if (seq <= tokens) return void stream.write(`id: ${run}:${seq}\nevent: token\ndata: {"text":"${seq} "}\n\n`)
      clearInterval(timer)
      stream.end(`id: ${run}:${seq}\nevent: stream_end\ndata: {}\n\n`)
    }, gapMs)
    stream.once('close', () => clearInterval(timer))
  }

  async function up(): Promise<{ origin: string; close(): void }> {
    const h2: Http2Server = createSecureServer(certificate())
    h2.on('stream', serve)
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve))
    const { port } = h2.address() as { port: number }
    return { origin: `https://localhost:${port}`, close: () => h2.close() }
  }

  return {
    name: 'http2',
    configureServer(vite) {
      vite.middlewares.use((req, res, next) => {
        const url = new URL(req.url ?? '/', 'http://localhost')
        if (url.pathname !== '/h2/origin' && url.pathname !== '/h2/log') return next()
        const answer = (body: unknown) => {
          res.writeHead(200, { 'Content-Type': 'application/json' })
          res.end(JSON.stringify(body))
        }
        if (url.pathname === '/h2/log') return answer(logs.get(url.searchParams.get('key') ?? '') ?? { opened: 0, maxOpen: 0 })
        void (server ??= up()).then(({ origin }) => answer({ origin }), (error: unknown) => {
          res.writeHead(500, { 'Content-Type': 'application/json' })
          res.end(JSON.stringify({ error: String(error) }))
        })
      })
      vite.httpServer?.once('close', () => void server?.then((s) => s.close()).catch(() => {}))
    },
  }
}
