import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Plugin } from 'vite'
import { startInstance, type Instance } from './instances.ts'
import { NO_REDIS_SERVER, redisServerPath, startRedis, type RedisProcess } from './redis-server.ts'

/**
 * For the browser test of two instances (test/cluster.test.ts): under `/cluster/`, a
 * round-robin proxy in front of two run-relay/server processes on one redis-server, all started
 * on the first request and stopped with the dev server. Same origin as the test page, so the hub
 * needs no allow-listing. Each stream response is cut after `cutAfter` events (a load balancer
 * that closes), and consecutive stream requests alternate between the instances: every
 * reconnect lands on the other one.
 * - `/cluster/api/chat/...`: proxied;
 * - `GET /cluster/connections?stream_id=`: which instance served each stream request, with its cursor;
 * - `GET /cluster/transcript?stream_id=`: the run's whole log, read from instance A directly.
 */
export function clusterPlugin(): Plugin {
  let cluster: Promise<{ redis: RedisProcess; instances: [Instance, Instance] }> | undefined
  const connections = new Map<string, Array<{ instance: 'A' | 'B'; cursor: string }>>()
  let streamRequests = 0
  let otherRequests = 0
  const cutAfter = 25

  async function up() {
    const path = redisServerPath()
    if (!path) throw new Error(NO_REDIS_SERVER)
    const redis = await startRedis(path)
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'cluster:', LEASE_MS: '3000' }
    const instances = (await Promise.all([startInstance(env), startInstance(env)])) as [Instance, Instance]
    return { redis, instances }
  }

  function forward(target: string, req: IncomingMessage, res: ServerResponse, path: string, cut: boolean): void {
    const upstream = httpRequest(`${target}${path}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      let events = 0
      answer.on('data', (chunk: Buffer) => {
        // A chunk the upstream had buffered may still come after the cut below ended the response.
        if (res.writableEnded || res.destroyed) return
        if (!cut) return void res.write(chunk)
        // Exactly `cutAfter` events, even from one chunk that holds more (a catch-up, or a busy machine's
        // batching): the text up to the start of the next event goes out, then a clean close.
        const text = chunk.toString()
        const starts = [...text.matchAll(/^id: /gm)].map((match) => match.index)
        const cutAt = starts[cutAfter - events]
        events += starts.length
        if (cutAt === undefined) return void res.write(chunk)
        res.write(text.slice(0, cutAt))
        // A clean close mid-run, as a load balancer's: end() flushes what was written (destroy() could drop it).
        answer.destroy()
        res.end()
      })
      answer.on('end', () => res.writableEnded || res.end())
      answer.on('error', () => res.writableEnded || res.destroy())
    })
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ error: String(error) }))
    })
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const { instances } = await (cluster ??= up())
    const streamId = url.searchParams.get('stream_id') ?? ''
    if (url.pathname === '/cluster/connections') {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      return void res.end(JSON.stringify(connections.get(streamId) ?? []))
    }
    if (url.pathname === '/cluster/transcript') {
      const answer = await fetch(`${instances[0].url}/api/chat/stream?stream_id=${encodeURIComponent(streamId)}&replay=1`)
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      return void res.end(await answer.text())
    }
    const path = url.pathname.slice('/cluster'.length) + url.search
    if (url.pathname === '/cluster/api/chat/stream') {
      const which = streamRequests++ % 2
      const cursor = url.searchParams.get('after_seq') ?? String(req.headers['last-event-id'] ?? 'none')
      connections.set(streamId, [...(connections.get(streamId) ?? []), { instance: which ? 'B' : 'A', cursor }])
      return forward(instances[which]!.url, req, res, path, true)
    }
    return forward(instances[otherRequests++ % 2]!.url, req, res, path, false)
  }

  const mount = (server: { middlewares: { use(fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): unknown }; httpServer?: { on(event: 'close', fn: () => void): unknown } | null }): void => {
    server.httpServer?.on('close', () => {
      void cluster?.then(async ({ redis, instances }) => {
        await Promise.all(instances.map((instance) => instance.stop()))
        await redis.stop()
      })
    })
    server.middlewares.use((req, res, next) => {
      if (!req.url?.startsWith('/cluster/')) return next()
      handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ error: String(error instanceof Error ? error.message : error) }))
      })
    })
  }
  return { name: 'run-relay-two-instances', configureServer: mount }
}
