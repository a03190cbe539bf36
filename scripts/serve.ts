/**
 * `npm run serve`: the dev chat server (dev-server/chat-server.ts, the server of `npm run dev` and of
 * the browser suite, on run-relay/server) on a port, standalone. With `--redis` its runs live in
 * a Redis log, so two or more instances on one Redis serve every run: start a run on one, stream,
 * resume, cancel it on another. The fault knobs are per instance (a run is served plainly by an
 * instance that did not start it).
 *
 *   npm run serve -- --port 8787                                  # in-memory log, one process
 *   npm run serve -- --port 8787 --redis redis://127.0.0.1:6379   # shared log: start more on other ports
 *
 * `--prefix` namespaces the Redis keys (several clusters on one Redis); `--cors` answers any origin.
 */
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { createClient } from 'redis'
import { createChatServer } from '../dev-server/chat-server.ts'
import { fromNodeRedis, memoryRunLog, redisRunLog, type RunLog } from '../server/index.ts'

const { values } = parseArgs({ options: { port: { type: 'string', default: '8787' }, host: { type: 'string', default: '127.0.0.1' }, redis: { type: 'string' }, prefix: { type: 'string' }, cors: { type: 'boolean', default: false } } })

let log: RunLog
let closeRedis = async () => {}
if (values.redis) {
  const client = createClient({ url: values.redis })
  await client.connect()
  log = redisRunLog({ redis: fromNodeRedis(client), prefix: values.prefix })
  closeRedis = async () => void (await client.close())
} else log = memoryRunLog()

const handle = createChatServer({ log })
const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'content-type, last-event-id, authorization', 'Access-Control-Allow-Methods': 'GET, POST, DELETE' }

const server = createServer((req, res) => {
  if (values.cors) {
    if (req.method === 'OPTIONS' && !req.url?.startsWith('/api/hostile/')) {
      res.writeHead(204, CORS)
      return void res.end()
    }
    for (const [name, value] of Object.entries(CORS)) res.setHeader(name, value)
  }
  const notFound = () => {
    res.writeHead(404, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ error: `no route ${req.method} ${req.url} (the routes live under /api/chat)` }))
  }
  void handle(req, res, notFound).catch((error: unknown) => {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ error: String(error) }))
  })
})
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as { port: number }
  console.log(`run-relay dev chat server listening on http://${values.host}:${port} (${values.redis ? `Redis log at ${values.redis}` : 'in-memory log'})`)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.closeAllConnections()
    server.close()
    void log.close().then(closeRedis).then(() => process.exit(0))
  })
}
