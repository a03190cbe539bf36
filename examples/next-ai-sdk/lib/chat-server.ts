// lib/chat-server.ts
import { createClient } from 'redis'
import { convertToModelMessages, streamText, type UIMessage } from 'ai'
import { createUIMessageServer, fromNodeRedis, redisRunLog } from 'run-relay/server'
import { yourModel } from './your-model'

// Connected on first use (not at import: `next build` imports this module with no Redis reachable).
// Without an error listener, a Redis restart would crash the server.
const redis = createClient({ url: process.env.REDIS_URL }).on('error', (error) => console.error('redis:', error))

export const chat = createUIMessageServer({
  log: redisRunLog({ redis: fromNodeRedis(redis) }),
  async execute({ messages, writer, signal }) {
    const result = streamText({ model: yourModel, messages: await convertToModelMessages(messages as UIMessage[]), abortSignal: signal })
    await writer.merge(result.toUIMessageStream())
  },
})
