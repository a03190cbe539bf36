import { createElement, StrictMode } from 'react'
import { render } from 'vitest-browser-react'
import { describe, expect, it } from 'vitest'
import { finishedTranscript, serverStats, uniqueName, waitFor, type ServerStreamStats } from './helpers.ts'

/** The examples of the README and of the guides in docs/, run as written, and kept equal to their copies there. */
const tokensOf = async (streamId: string) =>
  (await finishedTranscript(streamId)).filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text).join('')

/** Where each example file is shown, in order: the README has one per subject, the guides in docs/ the rest. */
const SHOWN: Record<string, string[]> = {
  'README.md': [
    'examples/plain.ts',
    'examples/react-pane.tsx',
    'examples/ai-sdk-chat.tsx',
    // Built and run in the Vue fixture app (apps/vite-vue, npm run test:apps).
    'examples/vue-chat.vue',
    // Built and run in the SvelteKit fixture app (apps/sveltekit).
    'examples/svelte-chat.svelte',
    'examples/durable-streams.ts',
    // Server route handlers and the Node server: type-checked by `npm run typecheck` (tsconfig includes examples/), not run here.
    'examples/next-reference/app/api/chat/[...path]/route.ts',
  ],
  'docs/client.md': [
    'examples/react-chat.tsx',
    'examples/svelte-ai-sdk-chat.svelte',
  ],
  'docs/server.md': [
    'examples/next-ai-sdk/lib/chat-server.ts',
    'examples/next-ai-sdk/app/api/chat/route.ts',
    'examples/next-ai-sdk/app/api/chat/[id]/stream/route.ts',
    'examples/next-ai-sdk/app/api/chat/[id]/messages/route.ts',
    'examples/node-http/server.ts',
  ],
}

describe('examples in the README and docs/', () => {
  it('are the files the tests run, each shown once', async () => {
    const files: Record<string, string> = {
      'examples/plain.ts': (await import('../examples/plain.ts?raw')).default,
      'examples/react-pane.tsx': (await import('../examples/react-pane.tsx?raw')).default,
      'examples/react-chat.tsx': (await import('../examples/react-chat.tsx?raw')).default,
      'examples/ai-sdk-chat.tsx': (await import('../examples/ai-sdk-chat.tsx?raw')).default,
      'examples/vue-chat.vue': (await import('../examples/vue-chat.vue?raw')).default,
      'examples/svelte-chat.svelte': (await import('../examples/svelte-chat.svelte?raw')).default,
      'examples/svelte-ai-sdk-chat.svelte': (await import('../examples/svelte-ai-sdk-chat.svelte?raw')).default,
      'examples/durable-streams.ts': (await import('../examples/durable-streams.ts?raw')).default,
      'examples/next-reference/app/api/chat/[...path]/route.ts': (await import('../examples/next-reference/app/api/chat/[...path]/route.ts?raw')).default,
      'examples/next-ai-sdk/lib/chat-server.ts': (await import('../examples/next-ai-sdk/lib/chat-server.ts?raw')).default,
      'examples/next-ai-sdk/app/api/chat/route.ts': (await import('../examples/next-ai-sdk/app/api/chat/route.ts?raw')).default,
      'examples/next-ai-sdk/app/api/chat/[id]/stream/route.ts': (await import('../examples/next-ai-sdk/app/api/chat/[id]/stream/route.ts?raw')).default,
      'examples/next-ai-sdk/app/api/chat/[id]/messages/route.ts': (await import('../examples/next-ai-sdk/app/api/chat/[id]/messages/route.ts?raw')).default,
      'examples/node-http/server.ts': (await import('../examples/node-http/server.ts?raw')).default,
    }
    // Every markdown file of the README and docs/: an example block anywhere else fails here too.
    const docs: Record<string, string> = {
      'README.md': (await import('../README.md?raw')).default,
      ...Object.fromEntries(Object.entries(import.meta.glob<string>('../docs/*.md', { query: '?raw', import: 'default', eager: true }))
        .map(([path, text]) => [path.replace('../', ''), text])),
    }
    const shown: Record<string, string[]> = {}
    for (const [doc, text] of Object.entries(docs)) {
      const blocks = [...text.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)```/g)]
      if (blocks.length > 0) shown[doc] = blocks.map(([, path]) => path!)
      for (const [, path, code] of blocks) expect(code, `${path} in ${doc}`).toBe(files[path!])
    }
    expect(shown).toEqual(SHOWN)
    expect(Object.values(shown).flat().sort()).toEqual(Object.keys(files).sort())
  })

  it('Durable Streams: every message of a stream cut at message 80, once, in order, from the real @durable-streams/server', async () => {
    const { followStream } = await import('../examples/durable-streams.ts')
    const name = uniqueName('ds-example')
    const count = 200
    expect((await fetch(`/ds-produce?stream=${name}&count=${count}&everyMs=5&type=application%2Fjson`, { method: 'POST' })).ok).toBe(true)
    const messages: unknown[] = []
    const stop = await followStream(`/ds/cut-80/v1/stream/${name}`, (message) => messages.push(message))
    await waitFor(() => messages.length >= count, { what: 'every message', timeoutMs: 20_000 })
    expect(messages).toEqual(Array.from({ length: count }, (_, n) => ({ n, text: `message ${n} é` })))
    const { requests } = (await (await fetch(`/ds-log?stream=${name}`)).json()) as { requests: string[] }
    expect(requests.length).toBeGreaterThanOrEqual(2) // the cut, and the resume from its offset
    stop()
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

  /** A React example's `App` in StrictMode: the composer starts a turn; the whole reply, Stop while it streams, one connection. */
  async function reactExample(App: (props: { sessionId: string }) => ReturnType<typeof createElement>, name: string): Promise<void> {
    const sessionId = uniqueName(name)
    const screen = await render(createElement(StrictMode, null, createElement(App, { sessionId })))
    const input = screen.container.querySelector<HTMLInputElement>('input[name=message]')!
    input.value = `README ${name}`
    input.form!.requestSubmit()
    await waitFor(() => screen.container.querySelector('button') !== null, { what: 'Stop while streaming' })
    const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats & { sessionId: string }> }
    const [streamId] = Object.entries(streams).find(([, s]) => s.sessionId === sessionId)!
    const text = await tokensOf(streamId)
    await waitFor(() => screen.container.querySelector('[data-testid=reply]')?.textContent === text, { what: 'the whole reply' })
    await waitFor(() => screen.container.querySelector('button') === null, { what: 'Stop to go when the run ends' })
    expect((await serverStats(streamId)).opened).toBe(1)
    screen.unmount()
  }

  it('React (in StrictMode, as the Vite template renders it): the composer starts a turn; the pane shows the whole reply and a Stop button while it streams', async () => {
    await reactExample((await import('../examples/react-chat.tsx')).App, 'react-example')
  })

  it('React, the README\'s pane (in StrictMode): the composer starts a turn; the whole reply, and Stop while it streams', async () => {
    await reactExample((await import('../examples/react-pane.tsx')).App, 'react-pane')
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
