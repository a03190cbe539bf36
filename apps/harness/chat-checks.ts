import type { Page } from 'playwright'
import { expect } from 'vitest'
import type { ChatBackend } from './chat-backend.ts'
import { until, type Session } from './browser.ts'

/**
 * What the user did in each app, checked against what the chat server sent:
 * switch chats mid-stream and back (the reply whole), two tabs on one chat (one server
 * connection), a reload mid-stream (whole, not doubled), and no page error.
 */

interface ServerStream {
  streamId: string
  opened: number
  finished: boolean
  text: string
}

/** The one stream the server ran for a chat (session) and the text it sent. */
export async function serverStream(backend: ChatBackend, sessionId: string): Promise<ServerStream> {
  const { streams } = (await (await fetch(`${backend.url}/api/chat/stats`)).json()) as { streams: Record<string, { sessionId: string; opened: number; finished: boolean }> }
  const mine = Object.entries(streams).filter(([, stats]) => stats.sessionId === sessionId)
  if (mine.length !== 1) throw new Error(`expected one stream for ${sessionId}, the server has ${mine.length}`)
  const [streamId, stats] = mine[0]!
  const transcript = (await (await fetch(`${backend.url}/api/chat/transcript?stream_id=${encodeURIComponent(streamId)}`)).json()) as { events: Array<{ event: string; data: string }> }
  const text = transcript.events.filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text).join('')
  return { streamId, opened: stats.opened, finished: stats.finished, text }
}

/** Waits until the server has finished the session's one stream. */
export async function finishedStream(backend: ChatBackend, sessionId: string): Promise<ServerStream> {
  let finished: ServerStream | undefined
  await until(async () => (finished = await serverStream(backend, sessionId)).finished, `the server to finish ${sessionId}`, 30_000)
  return finished!
}

const reply = (page: Page) => page.locator('[data-role=assistant]').last().textContent({ timeout: 1000 }).then((text) => text ?? '')
const status = (page: Page) => page.locator('[data-testid=chat]').getAttribute('data-status', { timeout: 1000 })

async function send(page: Page, chat: string, text: string): Promise<void> {
  await until(async () => (await page.locator('[data-testid=chat]').getAttribute('data-chat', { timeout: 1000 })) === chat, `chat ${chat} to show`)
  await page.locator('input[name=message]').fill(text)
  await page.locator('input[name=message]').press('Enter')
}

const midStream = (page: Page, what: string) => until(async () => (await reply(page)).length > 0 && (await status(page)) === 'streaming', `${what} to be streaming`)

/** Waits until the server finished the chat's stream and the page shows it whole. */
async function shownWhole(page: Page, backend: ChatBackend, chat: string): Promise<ServerStream> {
  const sent = await finishedStream(backend, chat)
  await until(async () => (await status(page)) === 'ready' && (await reply(page)) === sent.text, `chat ${chat} to show the whole reply`, 15_000)
  return sent
}

/** How many turns the dev chat server's AI SDK route (`POST /api/chat`) started for a chat. */
async function postsOf(backend: ChatBackend, chatId: string): Promise<number> {
  return ((await (await fetch(`${backend.url}/api/ai/chat/posts?id=${encodeURIComponent(chatId)}`)).json()) as { posts: number }).posts
}

/**
 * `aiSdk`: the page talks to the AI SDK route (`useChat`, Vue's or Svelte's `Chat`): each chat's
 * one turn must be one POST, through the switch, the second tab and the reload (a recovery never
 * sends a turn's POST again). The plain pages start turns on the reference route, counted by its streams.
 */
export async function chatChecks(session: Session, backend: ChatBackend, base: string, label: string, prefix = '', aiSdk = true): Promise<void> {
  const at = (chat: string) => `${base}?chat=${prefix}${chat}`
  const onePost = async (chat: string) => {
    if (aiSdk) expect(await postsOf(backend, `${prefix}${chat}`), `chat ${chat}: POSTs for its one turn`).toBe(1)
  }
  // A → B → A mid-stream: A's reply comes back whole from the hub, with no new request.
  const page = await session.open(at('A'))
  await send(page, `${prefix}A`, `hello A (${label})`)
  await midStream(page, 'chat A')
  await page.getByTestId('open-B').click()
  await send(page, `${prefix}B`, `hello B (${label})`)
  await midStream(page, 'chat B')
  await page.getByTestId('open-A').click()
  const a = await shownWhole(page, backend, `${prefix}A`)
  expect(a.opened, 'chat A: server connections').toBe(1)
  await onePost('A')
  // B, left mid-stream, ran to its end on the one connection the hub held. (Shown again after its end,
  // useChat has nothing to resume: an app shows a finished turn from its own message history.)
  expect((await finishedStream(backend, `${prefix}B`)).opened, 'chat B: server connections').toBe(1)
  await onePost('B')

  // Two tabs on one chat: one server connection.
  const first = await session.open(at('C'))
  await send(first, `${prefix}C`, `hello C (${label})`)
  await midStream(first, 'chat C in the first tab')
  const second = await session.open(at('C'))
  await midStream(second, 'chat C in the second tab') // it joined the running stream (a tab that comes after its end has nothing to resume)
  const c = await shownWhole(first, backend, `${prefix}C`)
  await until(async () => (await reply(second)) === c.text, 'chat C whole in the second tab', 15_000)
  expect(c.opened, 'chat C: server connections for two tabs').toBe(1)
  await onePost('C')

  // A reload mid-stream: whole, not doubled, resumed from the hub.
  const reloaded = await session.open(at('D'))
  await send(reloaded, `${prefix}D`, `hello D (${label})`)
  await midStream(reloaded, 'chat D')
  await reloaded.reload()
  const d = await shownWhole(reloaded, backend, `${prefix}D`)
  expect(d.opened, 'chat D: server connections across the reload').toBe(1)
  expect(await reloaded.locator('[data-role=assistant]').count(), 'chat D: assistant messages after the reload').toBe(1)
  await onePost('D')

  const workers = await session.sharedWorkers()
  expect(workers.length, `a SharedWorker runs (${workers.join(', ')})`).toBeGreaterThan(0)
  for (const url of workers) expect(url, 'the worker is loaded over http from the app').toMatch(new RegExp(`^${base.replace(/\/[^/]*$/, '')}`))
  expect(session.warnings.filter((w) => w.includes('run-relay')), 'no fallback warning').toEqual([])
  expect(session.errors, 'page errors').toEqual([])
}
