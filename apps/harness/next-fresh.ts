import { createServer, request as httpRequest, type Server } from 'node:http'
import { join } from 'node:path'
import type { Page } from 'playwright'
import { expect } from 'vitest'
import { redisServerPath, startRedis, NO_REDIS_SERVER, type RedisProcess } from '../../test-node/redis-server.ts'
import { until, type Session } from './browser.ts'
import { freePort, run, startServer, type AppServer } from './install.ts'

/**
 * A fresh `create-next-app` 16 (its defaults, `cacheComponents` on) with the README's AI SDK
 * files copied as written: `useChat` + `RelayChatTransport`, `createUIMessageServer` on
 * `redisRunLog`, the history route. Built with no Redis reachable, then run as two `next start`
 * instances on one `redis-server`, behind a round-robin proxy that records what each instance got.
 */
export const WORDS = 60
const FULL_REPLY = Array.from({ length: WORDS }, (_, i) => `w${i} `).join('').trim()

interface Seen { method: string; path: string; instance: number }

export interface TwoInstances {
  url: string
  instances: AppServer[]
  ports: number[]
  /** Every request the proxy passed on, in order. */
  seen: Seen[]
  /** Cuts the next POST's response after this many bytes, as a proxy timeout does. */
  cutNextPostAfter(bytes: number): void
  output(): string
  close(): Promise<void>
}

export async function startTwoInstances(dir: string): Promise<TwoInstances> {
  const app = join(dir, 'next-fresh')
  const bin = join(dir, 'node_modules', '.bin', 'next')
  // `next build` imports every route: nothing may reach for Redis then (a closed port here).
  run(bin, ['build'], app, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const redisPath = redisServerPath()
  if (!redisPath) throw new Error(NO_REDIS_SERVER)
  const redis: RedisProcess = await startRedis(redisPath)
  const ports = [await freePort(), await freePort()]
  const instances = await Promise.all(ports.map((port, i) => startServer(bin, ['start', '--port', String(port), '--hostname', '127.0.0.1'], app, {
    env: { REDIS_URL: redis.url, INSTANCE: String(i), WORDS: String(WORDS), WORD_MS: '80' }, url: `http://127.0.0.1:${port}/`, ready: /Ready in/,
  })))
  const seen: Seen[] = []
  let next = 0
  let cutAfter: number | undefined
  const proxy: Server = createServer((req, res) => {
    const instance = next++ % 2
    seen.push({ method: req.method ?? 'GET', path: req.url ?? '/', instance })
    const upstream = httpRequest({ host: '127.0.0.1', port: ports[instance], path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
      const cut = req.method === 'POST' ? cutAfter : undefined
      if (cut !== undefined) {
        cutAfter = undefined
        let sent = 0
        answer.on('data', (chunk: Buffer) => (sent += chunk.length) >= cut && res.destroy())
      }
      // An instance that died mid-response cuts the client's response too, as a load balancer does.
      answer.on('close', () => answer.complete || res.destroy())
    })
    // A dead instance (kill -9) is a 502, as a load balancer answers.
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()))
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  const proxyPort = await freePort()
  await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${proxyPort}/`, instances, ports, seen,
    cutNextPostAfter: (bytes) => void (cutAfter = bytes),
    output: () => instances.map((instance, i) => `--- instance ${i}:\n${instance.output().slice(-2000)}`).join('\n'),
    async close() {
      proxy.closeAllConnections()
      await new Promise((resolve) => proxy.close(resolve))
      await Promise.all(instances.map((instance) => instance.stop()))
      await redis.stop()
    },
  }
}

const bubbles = (page: Page, role: string) => page.locator(`[data-role=${role}]`).allTextContents()
const status = (page: Page) => page.locator('[data-testid=chat]').getAttribute('data-status', { timeout: 1000 })
const words = (text: string | undefined) => (text ?? '').trim().split(/\s+/).filter(Boolean).length

async function send(page: Page, text: string): Promise<void> {
  await until(async () => (await status(page)) === 'ready', 'the chat to be ready')
  await page.locator('input[name=message]').fill(text)
  await page.locator('input[name=message]').press('Enter')
}

/** Waits until the reply shows at least `count` words while streaming. */
const streamed = (page: Page, count: number, what: string) =>
  until(async () => (await status(page)) === 'streaming' && words((await bubbles(page, 'assistant')).at(-1)) >= count, `${what} to stream ${count} words`)

/** The chat shows exactly these turns: one user and one assistant bubble each, the reply whole. */
async function shownWhole(page: Page, prompts: string[], what: string): Promise<void> {
  const wanted = { user: prompts, assistant: prompts.map(() => FULL_REPLY) }
  let shown: typeof wanted | undefined
  await until(async () => {
    shown = { user: await bubbles(page, 'user'), assistant: (await bubbles(page, 'assistant')).map((text) => text.trim()) }
    return (await status(page)) === 'ready' && JSON.stringify(shown) === JSON.stringify(wanted)
  }, `${what} to show every turn whole`, 20_000).catch((error: Error) => {
    throw new Error(`${error.message}\nshown: ${JSON.stringify(shown)}`)
  })
}

const requestsOf = (app: TwoInstances, method: string, path: string, from = 0) => app.seen.slice(from).filter((r) => r.method === method && r.path === path)

export async function freshNextChecks(session: Session, app: TwoInstances, label: string): Promise<void> {
  const id = (name: string) => `${label}-${name}-${Date.now().toString(36)}`
  const [A, B] = [id('a'), id('b')]
  const page = await session.open(`${app.url}?chats=${A},${B}`)

  // A → B → A mid-stream: one POST, no stream request after it; A whole from the hub, one bubble.
  await send(page, 'hello A')
  const afterPost = app.seen.length
  await streamed(page, 5, 'chat A')
  await page.locator(`button[data-chat="${B}"]`).click()
  await until(async () => (await bubbles(page, 'user')).length === 0 && (await status(page)) === 'ready', 'chat B to show, empty')
  await page.locator(`button[data-chat="${A}"]`).click()
  await shownWhole(page, ['hello A'], 'chat A after A → B → A')
  expect(requestsOf(app, 'POST', '/api/chat'), 'POSTs').toHaveLength(1)
  expect(requestsOf(app, 'GET', `/api/chat/${A}/stream`, afterPost), 'resume GETs after the POST').toHaveLength(0)

  // A reload after the end: the history shows the chat; a second turn then streams and is saved too.
  await page.reload()
  await shownWhole(page, ['hello A'], 'chat A after a reload after the end')
  await send(page, 'second A')
  await streamed(page, 5, 'the second turn of A')

  // A second tab on the chat mid-stream: it shows the reply whole, from the hub (no stream request).
  const beforeTab = app.seen.length
  const tab = await session.open(`${app.url}?chats=${A}`)
  await shownWhole(tab, ['hello A', 'second A'], 'the second tab')
  await shownWhole(page, ['hello A', 'second A'], 'the first tab')
  expect(requestsOf(app, 'POST', '/api/chat', beforeTab), 'POSTs from the second tab').toHaveLength(0)
  expect(requestsOf(app, 'GET', `/api/chat/${A}/stream`, beforeTab), 'stream GETs from the second tab').toHaveLength(0)
  await tab.close()

  // A reload mid-stream: the user's message from the history, the reply resumed whole, one bubble each.
  await send(page, 'third A')
  await streamed(page, 10, 'the third turn of A')
  await page.reload()
  await shownWhole(page, ['hello A', 'second A', 'third A'], 'chat A after a reload mid-stream')
  expect(requestsOf(app, 'POST', '/api/chat'), 'POSTs: one per turn').toHaveLength(3)

  // A cut mid-reply (a proxy's timeout): the hub resumes after the last chunk it has (the frames'
  // ids), so the server sends only the rest; the reply shows whole, once.
  const cutChat = id('cut')
  const cutPage = await session.open(`${app.url}?chats=${cutChat}`)
  const beforeCut = app.seen.length
  app.cutNextPostAfter(1500)
  await send(cutPage, 'cut me')
  await shownWhole(cutPage, ['cut me'], 'the chat cut mid-reply')
  const resumes = app.seen.slice(beforeCut).filter((r) => r.method === 'GET' && r.path.startsWith(`/api/chat/${cutChat}/stream?`))
  expect(resumes.map((r) => r.path), 'the resume after the cut').toHaveLength(1)
  expect(decodeURIComponent(resumes[0]!.path)).toMatch(/after_event_id=[^:&]+:([1-9]\d*)$/)
  await cutPage.close()

  // A stop sent through the other instance reaches the producer's model.
  const stopChat = id('stop')
  const stopPage = await session.open(`${app.url}?chats=${stopChat}`)
  const beforeStop = app.seen.length
  await send(stopPage, 'stop me')
  await streamed(stopPage, 5, 'the chat to stop')
  const producer = requestsOf(app, 'POST', '/api/chat', beforeStop)[0]!.instance
  const other = 1 - producer
  const answer = (await (await fetch(`http://127.0.0.1:${app.ports[other]}/api/chat/${stopChat}/stream`, { method: 'DELETE' })).json()) as { cancelled: boolean }
  expect(answer.cancelled, 'the stop found the running turn').toBe(true)
  await until(() => app.instances[producer]!.output().includes(`model: stopped on instance ${producer}`), 'the producer\'s model to stop', 10_000)
  await until(async () => (await status(stopPage)) === 'ready', 'the stopped chat to be ready')
  const stopped = (await bubbles(stopPage, 'assistant')).map((text) => text.trim())
  expect(stopped).toHaveLength(1)
  expect(FULL_REPLY.startsWith(stopped[0]!) && words(stopped[0]) < WORDS, `a prefix of the reply, cut short: ${stopped[0]}`).toBe(true)
  await stopPage.close()
}

/** `kill -9` of the instance producing a turn: the page must not look alive for long. Returns the ms until it showed an error. */
export async function killedProducer(session: Session, app: TwoInstances, label: string): Promise<{ ms: number; shown: string }> {
  const chat = `${label}-kill-${Date.now().toString(36)}`
  const page = await session.open(`${app.url}?chats=${chat}`)
  const before = app.seen.length
  await send(page, 'kill the producer')
  await streamed(page, 5, 'the chat whose producer dies')
  const producer = requestsOf(app, 'POST', '/api/chat', before)[0]!.instance
  const killedAt = Date.now()
  await app.instances[producer]!.kill()
  const shown = await until(async () => page.locator('[data-testid=chat] [role=alert]').textContent({ timeout: 500 }).catch(() => undefined), 'an error after the kill', 30_000).catch(async (error: Error) => {
    throw new Error(`${error.message}; the page: ${await page.locator('body').innerHTML()}`)
  })
  return { ms: Date.now() - killedAt, shown }
}
