// lib/chat-server.ts
import { createClient } from 'redis'
import { convertToModelMessages, streamText, type UIMessage } from 'ai'
import { createUIMessageServer, fromNodeRedis, redisRunLog } from 'run-relay/server'
import { yourModel } from './your-model'

const redis = createClient({ url: process.env.REDIS_URL })
await redis.connect()

export const chat = createUIMessageServer({
  log: redisRunLog({ redis: fromNodeRedis(redis) }),
  async execute({ messages, writer, signal }) {
    const result = streamText({ model: yourModel, messages: await convertToModelMessages(messages as UIMessage[]), abortSignal: signal })
    await writer.merge(result.toUIMessageStream())
  },
})
