import { useChat } from '@ai-sdk/react'
import { createElement } from 'react'
import { render } from 'vitest-browser-react'
import { commands } from 'vitest/browser'
import { engine } from './engine.ts'
import { describe, expect, it } from 'vitest'
import { RelayChatTransport } from '../src/ai-sdk.ts'
import { finishedTranscript, serverStats, uniqueName, useRelays, waitFor, type ServerStreamStats } from './helpers.ts'

/** The real `useChat` from @ai-sdk/react with the relay's transport, against the dev server's AI SDK endpoints. */
const relay = useRelays('ai-sdk')
const senders = new Map<string, (text: string) => void>()

function ChatPane(props: { id: string; transport: RelayChatTransport }) {
  const { messages, sendMessage, status } = useChat({ id: props.id, transport: props.transport, resume: true })
  senders.set(props.id, (text) => void sendMessage({ text }))
  const text = messages.filter((m) => m.role === 'assistant').map((m) => m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')).join('|')
  return createElement('div', { 'data-testid': 'chat', 'data-id': props.id, 'data-status': status }, text)
}

async function runOfChat(chatId: string): Promise<[string, ServerStreamStats]> {
  return waitFor(async () => {
    const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats & { sessionId: string }> }
    return Object.entries(streams).find(([, s]) => s.sessionId === chatId)
  }, { what: `the server run of chat ${chatId}` })
}

const textOf = async (streamId: string) =>
  (await finishedTranscript(streamId)).filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text).join('')

describe('RelayChatTransport with useChat', () => {
  it('switching chats A -> B -> A mid-stream: A is complete, over one connection', async () => {
    const hub = relay()
    const transport = new RelayChatTransport({ relay: hub, api: '/api/ai/chat', resumeUrl: (id) => `/api/ai/chat/${id}/stream`, body: { rate: 30 } })
    const [a, b] = [uniqueName('chat-a'), uniqueName('chat-b')]
    const screen = await render(createElement(ChatPane, { id: a, transport }))
    const shown = () => screen.container.querySelector<HTMLElement>('[data-testid=chat]')!
    await waitFor(() => senders.has(a) && shown().dataset.status === 'ready', { what: 'the resume on mount to find nothing' })
    senders.get(a)!('tell me about chat A')
    await waitFor(() => (shown().textContent ?? '').length > 10, { what: 'A to start streaming' })

    await screen.rerender(createElement(ChatPane, { id: b, transport })) // useChat aborts A's stream here
    await waitFor(() => shown().dataset.id === b && senders.has(b) && shown().dataset.status === 'ready')
    senders.get(b)!('and about chat B')
    await waitFor(() => (shown().textContent ?? '').length > 10, { what: 'B to start streaming' })
    const [streamA] = await runOfChat(a)
    expect((await serverStats(streamA)).finished, 'A is still running when we come back').toBe(false)

    await screen.rerender(createElement(ChatPane, { id: a, transport }))
    const expected = await textOf(streamA)
    await waitFor(() => shown().dataset.id === a && shown().textContent === expected, { timeoutMs: 20_000, what: 'A to show its whole reply' })
    expect((await serverStats(streamA)).opened, 'one connection for A').toBe(1)
    const [streamB] = await runOfChat(b)
    await waitFor(async () => (await serverStats(streamB)).finished)
    expect((await serverStats(streamB)).opened).toBe(1)
    screen.unmount()
  })
})

describe('RelayChatTransport across a reload', () => {
  // Only Chromium (148+) keeps the worker through a reload of the only tab (extendedLifetime); elsewhere
  // the new page's hub resumes through the AI SDK's resume GET, and the reply is still shown once.
  const extended = engine === 'chromium'
  it(extended
    ? 'a reload mid-stream resumes from the hub: the whole reply once, no second connection'
    : `a reload mid-stream (${engine} has no extendedLifetime: the fallback) resumes on a new hub: the whole reply once, over one more connection`, async () => {
    const id = uniqueName('reload-chat')
    const tab = await commands.openTab(`/test/fixtures/ai-chat.html?id=${id}`)
    const inTab = <T>(expression: string) => commands.evalInTab<T>(tab, expression)
    await waitFor(() => inTab<string | undefined>(`document.querySelector('[data-testid=chat]')?.dataset.status`).then((s) => s === 'ready'), { what: 'the chat to mount' })
    await inTab(`(() => { const input = document.querySelector('input[name=message]'); input.value = 'survive a reload'; input.form.requestSubmit() })()`)
    const assistant = () => inTab<string>(`[...document.querySelectorAll('[data-role=assistant]')].map((p) => p.textContent).join('|')`)
    await waitFor(async () => (await assistant()).length > 10, { what: 'the reply to start' })
    const [streamId] = await runOfChat(id)
    await commands.reloadTab(tab)
    expect((await serverStats(streamId)).finished, 'still running after the reload').toBe(false)
    const expected = await textOf(streamId)
    await waitFor(async () => (await assistant()) === expected, { timeoutMs: 20_000, what: 'the whole reply, once, after the reload' })
    expect((await serverStats(streamId)).opened, 'connections across the reload').toBe(extended ? 1 : 2)
    await commands.closeTab(tab)
  })
})
