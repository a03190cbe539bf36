// lib/chat-server.ts
import { createClient } from 'redis'
import { convertToModelMessages, generateId, streamText, type UIMessage } from 'ai'
import { createUIMessageServer, fromNodeRedis, redisRunLog } from 'run-relay/server'
import { yourModel } from './your-model'

// Connected on first use (not at import: `next build` imports this module with no Redis reachable).
// Without an error listener, a Redis restart would crash the server.
const redis = createClient({ url: process.env.REDIS_URL }).on('error', (error) => console.error('redis:', error))
const db = async () => (redis.isOpen ? redis : await redis.connect())

// A chat's history, as the AI SDK docs keep it: the messages, saved when a turn starts and ends.
export async function loadChat(chatId: string): Promise<UIMessage[]> {
  const saved = await (await db()).get(`chat:${chatId}`)
  return saved ? (JSON.parse(saved) as UIMessage[]) : []
}
async function saveChat(chatId: string, messages: UIMessage[]) {
  await (await db()).set(`chat:${chatId}`, JSON.stringify(messages))
}

export const chat = createUIMessageServer({
  log: redisRunLog({ redis: fromNodeRedis(redis) }),
  async execute({ chatId, messages, writer, signal }) {
    const history = messages as UIMessage[]
    await saveChat(chatId, history) // a reload mid-reply shows the user's message
    const result = streamText({ model: yourModel, messages: await convertToModelMessages(history), abortSignal: signal })
    await writer.merge(result.toUIMessageStream({
      originalMessages: history,
      generateMessageId: generateId, // the reply's id, the same in the stream and in the saved history
      onFinish: ({ messages }) => saveChat(chatId, messages),
    }))
  },
})
