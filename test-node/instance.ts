/**
 * One server instance as its own process, for the two-instance tests: the reference protocol
 * under /api/chat and the UI message stream under /api/ai/chat, both on one Redis log.
 * Env: REDIS_URL, REDIS_PREFIX, LEASE_MS, PORT (0: a free one). Prints `listening <port>`.
 */
import { createServer } from 'node:http'
import { createClient } from 'redis'
import { createRunServer, createUIMessageServer, fromNodeRedis, redisRunLog, toNodeListener } from '../server/index.ts'
import { tokenRun } from './generators.ts'
import { uiTokenTurn } from './ui-turn.ts'

const client = createClient({ url: process.env.REDIS_URL })
await client.connect()
const leaseMs = Number(process.env.LEASE_MS ?? 10_000)
const log = redisRunLog({ redis: fromNodeRedis(client), prefix: process.env.REDIS_PREFIX })
const reference = createRunServer({ log, generate: tokenRun, leaseMs })
const ui = createUIMessageServer({ log, execute: uiTokenTurn, leaseMs, basePath: '/api/ai/chat' })
const handle = toNodeListener(async (request) => {
  const { pathname } = new URL(request.url)
  // How many generators this process runs now: a cancel from the other instance must stop them.
  if (pathname === '/stats') return Response.json({ producing: reference.host.producing + ui.host.producing })
  return pathname.startsWith('/api/ai/') ? ui.fetch(request) : reference.fetch(request)
})
const server = createServer(handle)
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as { port: number }).port}`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close()
  void log.close().then(() => client.close()).then(() => process.exit(0))
})
