/**
 * `npm run serve`: the reference chat server on run-relay/server, standalone, for two or more
 * instances on one Redis. The same replies as the dev chat server (server/prose.ts), the same run
 * shape (tokens, a tool call halfway, metering every second, done, metering, title, stream_end)
 * and its `tokens`, `rate` start options; the fault knobs stay the dev server's (`npm run dev`).
 *
 *   npm run serve -- --port 8787                                  # in-memory log, one process
 *   npm run serve -- --port 8787 --redis redis://127.0.0.1:6379   # shared log: start more on other ports
 *
 * Routes: the reference protocol under /api/chat (start, stream, stream/status, cancel) and the
 * AI SDK's (POST /api/chat, GET|DELETE /api/chat/{id}/stream). `--cors` answers any origin.
 */
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { createClient } from 'redis'
import { replyTokens } from '../server/prose.ts'
import { createRunServer, createUIMessageServer, fromNodeRedis, memoryRunLog, redisRunLog, toNodeListener, type RunLog, type RunProducer } from '../server-lib/index.ts'

const { values } = parseArgs({ options: { port: { type: 'string', default: '8787' }, host: { type: 'string', default: '127.0.0.1' }, redis: { type: 'string' }, cors: { type: 'boolean', default: false } } })

let log: RunLog
let closeRedis = async () => {}
if (values.redis) {
  const client = createClient({ url: values.redis })
  await client.connect()
  log = redisRunLog({ redis: fromNodeRedis(client) })
  closeRedis = async () => void (await client.close())
} else log = memoryRunLog()

/** Waits `ms`, or less: an abort (a cancel, from any instance) ends the wait at once. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })

/** Where a prose run goes: a run's producer, or (for the UI message stream) text deltas only. */
type Sink = Pick<RunProducer, 'signal' | 'emit'>

/** The dev server's run: `tokens` tokens (0: the whole reply once) at `rate` per second. */
async function proseRun(run: Sink, prompt: string, body: Record<string, unknown>, emitToken: (text: string) => void): Promise<void> {
  const reply = replyTokens(prompt)
  const tokens = Number(body.tokens ?? 40) || reply.length
  const rate = Number(body.rate ?? 20)
  const began = Date.now()
  let lastMetering = began
  for (let index = 0; index < tokens && !run.signal.aborted; ) {
    const due = Math.min(tokens, Math.floor(((Date.now() - began) * rate) / 1000) + 1)
    for (; index < due; index++) {
      if (index === Math.floor(tokens / 2)) {
        run.emit('tool', { name: 'search', args: { q: prompt } })
        run.emit('tool_complete', { name: 'search', result: 'ok' })
      }
      emitToken(reply[index % reply.length]!)
    }
    if (Date.now() - lastMetering >= 1000) {
      lastMetering = Date.now()
      run.emit('metering', { tokens: index })
    }
    await sleep(Math.max(5, 1000 / rate), run.signal)
  }
}

const reference = createRunServer({
  log,
  async generate(run, { sessionId, message, body }) {
    await proseRun(run, message, body, (text) => run.emit('token', { text }))
    if (run.signal.aborted) return
    const tokens = Number(body.tokens ?? 40) || replyTokens(message).length
    run.emit('done', { session: sessionId, usage: { output_tokens: tokens } })
    run.emit('metering', { tokens })
    run.emit('title', { title: message.slice(0, 40) })
  },
})

const ui = createUIMessageServer({
  log,
  async execute({ messages, body, writer, signal }) {
    const last = (messages as Array<{ role?: string; parts?: Array<{ type: string; text?: string }> }>).filter((m) => m.role === 'user').at(-1)
    const prompt = last?.parts?.filter((p) => p.type === 'text').map((p) => p.text).join('') ?? ''
    writer.write({ type: 'start' })
    writer.write({ type: 'text-start', id: 'text-1' })
    // Tool and metering events have no UI chunk here: only the text goes out.
    await proseRun({ signal, emit: () => {} }, prompt, { tokens: 0, ...body }, (delta) => writer.write({ type: 'text-delta', id: 'text-1', delta }))
    if (signal.aborted) return
    writer.write({ type: 'text-end', id: 'text-1' })
    writer.write({ type: 'finish' })
  },
})

const aiRoute = (request: Request) => {
  const { pathname } = new URL(request.url)
  return (request.method === 'POST' && pathname === '/api/chat') || /^\/api\/chat\/[^/]+\/stream$/.test(pathname)
}
const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'content-type, last-event-id, authorization', 'Access-Control-Allow-Methods': 'GET, POST, DELETE' }

async function handle(request: Request): Promise<Response> {
  if (values.cors && request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS })
  const response = await (aiRoute(request) ? ui.fetch(request) : reference.fetch(request))
  if (values.cors) for (const [name, value] of Object.entries(CORS)) response.headers.set(name, value)
  return response
}

const server = createServer(toNodeListener(handle))
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as { port: number }
  console.log(`run-relay/server listening on http://${values.host}:${port} (${values.redis ? `Redis log at ${values.redis}` : 'in-memory log'})`)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.closeAllConnections()
    server.close()
    void log.close().then(closeRedis).then(() => process.exit(0))
  })
}
