import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Plugin } from 'vite'
import { NO_REDIS_SERVER, redisServerPath, startRedis, type RedisProcess } from './redis-server.ts'

/**
 * For the browser tests of the AI SDK's own resumable server (test/recovery.test.ts): the shape
 * the AI SDK docs give ("Chatbot resume streams"), with the real `ai` and `resumable-stream` on a
 * real redis-server, all started on the first request and stopped with the dev server. A fake
 * model writes the reply as UI message chunks (`createUIMessageStream`), paced.
 * - `POST /api/rs/chat` `{ id, messages, tokens?, rate? }`: starts a turn, answers its UI message
 *   stream, and keeps it resumable (`consumeSseStream` -> `createNewResumableStream`);
 * - `GET /api/rs/chat/{id}/stream`: 204 when the chat runs nothing, else the turn's stream
 *   replayed by `resumeExistingStream` from its first chunk;
 * - `GET /api/rs/posts?id=`: the turn POSTs this chat received (a recovery must never repeat one),
 *   whether its turn is running,
 *   and the last one's user text (`body.message`, as the docs' server reads it, else the last of
 *   `body.messages`) and `Authorization` header;
 * - `POST /api/rs/hold?id=` `{ hold }`: the chat's turn writes nothing while held (a test keeps it
 *   mid-run while it moves its hub); its pace resumes where it was;
 * - `GET /api/rs/ready`: answers once Redis and the modules are up (a test's `beforeAll`).
 */
export function resumableStreamPlugin(): Plugin {
  type Context = { createNewResumableStream(id: string, make: () => ReadableStream<string>): Promise<ReadableStream<string> | null>; resumeExistingStream(id: string): Promise<ReadableStream<string> | null | undefined> }
  let setup: Promise<{ redis: RedisProcess; context: Context; close(): Promise<void> }> | undefined
  const active = new Map<string, string>()
  const posts = new Map<string, number>()
  /** Chats whose turn is held. */
  const held = new Set<string>()
  /** Per chat: the user's text of its last turn, and the Authorization header it came with. */
  const lastTurn = new Map<string, { text: string | undefined; from: 'message' | 'messages'; authorization: string | undefined }>()

  async function up() {
    const path = redisServerPath()
    if (!path) throw new Error(NO_REDIS_SERVER)
    const redis = await startRedis(path)
    const { createClient } = await import('redis')
    const { createResumableStreamContext } = await import('resumable-stream/redis')
    const publisher = createClient({ url: redis.url })
    const subscriber = createClient({ url: redis.url })
    await Promise.all([publisher.connect(), subscriber.connect()])
    const context = createResumableStreamContext({ waitUntil: null, keyPrefix: 'rs-test', publisher: publisher as never, subscriber: subscriber as never }) as unknown as Context
    return { redis, context, close: async () => void (await Promise.allSettled([publisher.quit(), subscriber.quit()]), await redis.stop()) }
  }

  async function send(res: ServerResponse, response: Response): Promise<void> {
    res.writeHead(response.status, Object.fromEntries(response.headers))
    if (!response.body) return void res.end()
    const reader = response.body.getReader()
    res.on('close', () => void reader.cancel().catch(() => {}))
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
      if (done || res.destroyed) break
      res.write(value)
    }
    res.end()
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    let body = ''
    for await (const chunk of req) body += chunk
    return body
  }

  async function handle(req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (!url.pathname.startsWith('/api/rs/')) return next()
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (url.pathname === '/api/rs/posts') {
      const id = url.searchParams.get('id') ?? ''
      return json(200, { posts: posts.get(id) ?? 0, running: active.has(id), ...lastTurn.get(id) })
    }
    if (url.pathname === '/api/rs/hold' && req.method === 'POST') {
      const id = url.searchParams.get('id') ?? ''
      if ((JSON.parse((await readBody(req)) || '{}') as { hold?: boolean }).hold) held.add(id)
      else held.delete(id)
      return json(200, { ok: true })
    }
    const { context } = await (setup ??= up())
    if (url.pathname === '/api/rs/ready') return json(200, { ready: true })
    const { createUIMessageStream, createUIMessageStreamResponse, UI_MESSAGE_STREAM_HEADERS } = await import('ai')
    const resume = /^\/api\/rs\/chat\/([^/]+)\/stream$/.exec(url.pathname)
    if (req.method === 'GET' && resume) {
      const streamId = active.get(decodeURIComponent(resume[1]!))
      if (!streamId) return void res.writeHead(204).end()
      const stream = await context.resumeExistingStream(streamId)
      if (!stream) return void res.writeHead(204).end()
      return send(res, new Response(stream.pipeThrough(new TextEncoderStream()), { headers: UI_MESSAGE_STREAM_HEADERS }))
    }
    if (req.method !== 'POST' || url.pathname !== '/api/rs/chat') return json(404, { error: `no route ${req.method} ${url.pathname}` })
    type Message = { role: string; parts?: Array<{ type: string; text?: string }> }
    // The docs' server reads `message` (sent by prepareSendMessagesRequest); the default body has `messages`.
    const body = JSON.parse((await readBody(req)) || '{}') as { id?: string; tokens?: number; rate?: number; message?: Message; messages?: Message[] }
    if (!body.id) return json(400, { error: 'id is required' })
    const chatId = body.id
    posts.set(chatId, (posts.get(chatId) ?? 0) + 1)
    const message = body.message ?? body.messages?.at(-1)
    lastTurn.set(chatId, { text: message?.parts?.filter((part) => part.type === 'text').map((part) => part.text).join(''), from: body.message ? 'message' : 'messages', authorization: req.headers.authorization })
    const streamId = crypto.randomUUID()
    active.set(chatId, streamId)
    const tokens = body.tokens ?? 40
    const rate = body.rate ?? 40
    const stream = createUIMessageStream({
      execute: async ({ writer }) => {
        writer.write({ type: 'start', messageId: `msg-${streamId}` })
        writer.write({ type: 'text-start', id: 't1' })
        for (let i = 0; i < tokens; i++) {
          while (held.has(chatId)) await new Promise((resolve) => setTimeout(resolve, 1000 / rate))
          writer.write({ type: 'text-delta', id: 't1', delta: `word${i} ` })
          await new Promise((resolve) => setTimeout(resolve, 1000 / rate))
        }
        writer.write({ type: 'text-end', id: 't1' })
      },
      onFinish: () => void active.delete(chatId),
    })
    const response = createUIMessageStreamResponse({
      stream,
      consumeSseStream: ({ stream: sse }) => void context.createNewResumableStream(streamId, () => sse),
    })
    return send(res, response)
  }

  return {
    name: 'resumable-stream',
    configureServer(vite) {
      vite.middlewares.use((req, res, next) => void handle(req, res, next).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ error: String(error) }))
      }))
      vite.httpServer?.once('close', () => void setup?.then((s) => s.close()).catch(() => {}))
    },
  }
}
