// The fixture's stand-in for a provider's model (`openai(...)`, ...): the AI SDK's own mock, which
// streams WORDS words, one every WORD_MS ms, and says on the server's output when a stop reached it.
import { simulateReadableStream } from 'ai'
import { MockLanguageModelV4 } from 'ai/test'

const words = Number(process.env.WORDS ?? 60)
const wordMs = Number(process.env.WORD_MS ?? 80)

export const yourModel = new MockLanguageModelV4({
  async doStream({ abortSignal }) {
    abortSignal?.addEventListener('abort', () => console.log(`model: stopped on instance ${process.env.INSTANCE}`), { once: true })
    return {
      stream: simulateReadableStream({
        chunkDelayInMs: wordMs,
        chunks: [
          { type: 'stream-start', warnings: [] },
          { type: 'text-start', id: 't' },
          ...Array.from({ length: words }, (_, i) => ({ type: 'text-delta' as const, id: 't', delta: `w${i} ` })),
          { type: 'text-end', id: 't' },
          {
            type: 'finish',
            finishReason: { unified: 'stop', raw: 'stop' },
            usage: { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: words, text: words, reasoning: 0 } },
          },
        ],
      }),
    }
  },
})
