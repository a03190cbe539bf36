import { createElement, StrictMode } from 'react'
import { render } from 'vitest-browser-react'
import { describe, expect, it } from 'vitest'
import { finishedTranscript, serverStats, uniqueName, waitFor, type ServerStreamStats } from './helpers.ts'

/** The README's examples, run as written, and kept equal to the README's copies. */
const tokensOf = async (streamId: string) =>
  (await finishedTranscript(streamId)).filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text).join('')

describe('README examples', () => {
  it('are the files the tests run', async () => {
    const files: Record<string, string> = {
      'examples/plain.ts': (await import('../examples/plain.ts?raw')).default,
      'examples/react-chat.tsx': (await import('../examples/react-chat.tsx?raw')).default,
      'examples/ai-sdk-chat.tsx': (await import('../examples/ai-sdk-chat.tsx?raw')).default,
      // Built and run in the Vue fixture app (apps/vite-vue, npm run test:apps).
      'examples/vue-chat.vue': (await import('../examples/vue-chat.vue?raw')).default,
      // Built and run in the SvelteKit fixture app (apps/sveltekit).
      'examples/svelte-chat.svelte': (await import('../examples/svelte-chat.svelte?raw')).default,
      'examples/svelte-ai-sdk-chat.svelte': (await import('../examples/svelte-ai-sdk-chat.svelte?raw')).default,
      // Server route handlers and the Node server: type-checked by `npm run typecheck` (tsconfig includes examples/), not run here.
      'examples/next-reference/app/api/chat/[...path]/route.ts': (await import('../examples/next-reference/app/api/chat/[...path]/route.ts?raw')).default,
      'examples/next-ai-sdk/lib/chat-server.ts': (await import('../examples/next-ai-sdk/lib/chat-server.ts?raw')).default,
      'examples/next-ai-sdk/app/api/chat/route.ts': (await import('../examples/next-ai-sdk/app/api/chat/route.ts?raw')).default,
      'examples/next-ai-sdk/app/api/chat/[id]/stream/route.ts': (await import('../examples/next-ai-sdk/app/api/chat/[id]/stream/route.ts?raw')).default,
      'examples/next-ai-sdk/app/api/chat/[id]/messages/route.ts': (await import('../examples/next-ai-sdk/app/api/chat/[id]/messages/route.ts?raw')).default,
      'examples/node-http/server.ts': (await import('../examples/node-http/server.ts?raw')).default,
    }
    const readme = (await import('../README.md?raw')).default
    const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)```/g)]
    expect(blocks.map(([, path]) => path)).toEqual(Object.keys(files))
    for (const [, path, code] of blocks) expect(code, `${path} in the README`).toBe(files[path!])
  })

  it('plain: the reply in the pane is the server\'s', async () => {
    const { sendMessage } = await import('../examples/plain.ts')
    const pane = document.createElement('div')
    const sessionId = uniqueName('plain')
    const stop = await sendMessage(sessionId, 'hello from the README', pane)
    await waitFor(() => pane.dataset.status === 'ended', { what: 'the reply to end' })
    const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats & { sessionId: string }> }
    const [streamId] = Object.entries(streams).find(([, s]) => s.sessionId === sessionId)!
    expect(pane.textContent).toBe(await tokensOf(streamId))
    stop()
  })

  it('React (in StrictMode, as the Vite template renders it): the composer starts a turn; the pane shows the whole reply and a Stop button while it streams', async () => {
    const { App } = await import('../examples/react-chat.tsx')
    const sessionId = uniqueName('react-example')
    const screen = await render(createElement(StrictMode, null, createElement(App, { sessionId })))
    const input = screen.container.querySelector<HTMLInputElement>('input[name=message]')!
    input.value = 'README react'
    input.form!.requestSubmit()
    await waitFor(() => screen.container.querySelector('button') !== null, { what: 'Stop while streaming' })
    const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats & { sessionId: string }> }
    const [streamId] = Object.entries(streams).find(([, s]) => s.sessionId === sessionId)!
    const text = await tokensOf(streamId)
    await waitFor(() => screen.container.querySelector('[data-testid=reply]')?.textContent === text, { what: 'the whole reply' })
    await waitFor(() => screen.container.querySelector('button') === null, { what: 'Stop to go when the run ends' })
    expect((await serverStats(streamId)).opened).toBe(1)
    screen.unmount()
  })

  it('AI SDK: useChat with the relay transport shows the whole reply, over one connection', async () => {
    const { Chat } = await import('../examples/ai-sdk-chat.tsx')
    const id = uniqueName('ai-example')
    const screen = await render(createElement(Chat, { id }))
    const chat = () => screen.container.querySelector<HTMLElement>('[data-testid=chat]')!
    await waitFor(() => chat().dataset.status === 'ready')
    const input = screen.container.querySelector<HTMLInputElement>('input[name=message]')!
    input.value = 'hello from the AI SDK example'
    input.form!.requestSubmit()
    const { streams } = await waitFor(async () => {
      const stats = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats & { sessionId: string }> }
      return Object.values(stats.streams).some((s) => s.sessionId === id) ? stats : undefined
    })
    const [streamId] = Object.entries(streams).find(([, s]) => s.sessionId === id)!
    const text = await tokensOf(streamId)
    await waitFor(() => chat().querySelector('[data-role=assistant]')?.textContent === text, { timeoutMs: 15_000, what: 'the whole assistant reply' })
    expect((await serverStats(streamId)).opened).toBe(1)
    screen.unmount()
  })
})
