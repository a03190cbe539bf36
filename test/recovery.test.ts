import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import { RelayError, type RunRelay, type RunSpec } from '../src/index.ts'
import { RelayChatTransport } from '../src/ai-sdk.ts'
import { killableRelay } from './engine.ts'
import { finishedWire, recorder, serverStats, startRun, uniqueName, useRelays, waitFor, wireShape } from './helpers.ts'

/**
 * Recovery on a new hub, for every protocol: the hub goes away mid-run (a killed SharedWorker, a
 * closed leader tab in shared-tab mode), and each client moves to a new one. The judgment, per
 * cell: the subscriber's transcript equals what the server sent, or it is a prefix of it with the
 * typed signal; and the server saw each turn's POST exactly once.
 */
const relay = useRelays('recovery')

interface Turn {
  spec: RunSpec
  /** What the server sent for this run, once it finished (its wire events). */
  sent(): Promise<string[]>
  /** POSTs the server received for the turn (1 unless a recovery repeated it), or connections it served for a GET run. */
  requests(): Promise<number>
}

/** A turn of each protocol on the dev chat server, about 4 s long so the hub goes away mid-run (a leader tab's close takes a few seconds to tell). */
const protocols: Record<string, { start(): Promise<Turn>; expect: 'whole' | 'unresumable' }> = {
  'reference (seq ids)': { expect: 'whole', start: () => getTurn('reference', { preset: 'reference' }) },
  'AI SDK stream over GET (no ids, replays from its start)': { expect: 'whole', start: () => getTurn('ai-sdk', { preset: 'ai-sdk' }) },
  'AI SDK turn: POST with resumeUrl': { expect: 'whole', start: () => postTurn(true) },
  'AI SDK turn: POST without resumeUrl': { expect: 'unresumable', start: () => postTurn(false) },
  'OpenAI-style (no ids, no resume)': { expect: 'unresumable', start: () => getTurn('openai', { preset: 'openai' }) },
}

async function getTurn(wire: 'reference' | 'ai-sdk' | 'openai', extra: Partial<RunSpec>): Promise<Turn> {
  const run = await startRun(uniqueName('session'), 'recover me', { tokens: 200, rate: 50, wire })
  return {
    spec: { runId: run.streamId, sessionId: run.sessionId, url: run.url, ...extra },
    sent: async () => wireShape(await finishedWire(run.streamId)),
    requests: async () => (await serverStats(run.streamId)).opened,
  }
}

async function postTurn(withResumeUrl: boolean): Promise<Turn> {
  const chatId = uniqueName('chat')
  const spec: RunSpec = {
    runId: `${chatId}:turn`, sessionId: chatId, url: '/api/ai/chat', method: 'POST', preset: 'ai-sdk',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: chatId, messages: [{ role: 'user', parts: [{ type: 'text', text: 'recover me' }] }], tokens: 200, rate: 50 }),
    ...(withResumeUrl ? { resumeUrl: `/api/ai/chat/${chatId}/stream` } : {}),
  }
  const streamIdOf = () => waitFor(async () => {
    const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, { sessionId: string }> }
    return Object.entries(streams).find(([, s]) => s.sessionId === chatId)?.[0]
  }, { what: `the server run of chat ${chatId}` })
  return {
    spec,
    sent: async () => wireShape(await finishedWire(await streamIdOf())),
    requests: async () => ((await (await fetch(`/api/ai/chat/posts?id=${encodeURIComponent(chatId)}`)).json()) as { posts: number }).posts,
  }
}

/** The ways a hub goes away, each handing back the relay whose hub it was and the function that ends that hub. */
const failures: Record<string, () => Promise<{ here: RunRelay; goAway(): Promise<void> }>> = {
  'a killed hub': async () => {
    const { relay: here, kill } = await killableRelay(uniqueName('killed'), { livenessMs: 200, callTimeoutMs: 1000 })
    return { here, goAway: kill }
  },
  'a closed leader tab (shared-tab mode)': async () => {
    const name = uniqueName('leader')
    const tab = await commands.openTab('/test/fixtures/tab.html') // first: that tab leads
    await commands.evalInTab(tab, `tab.connect(${JSON.stringify(name)}, { mode: 'shared-tab', livenessMs: 200, callTimeoutMs: 3000 })`)
    const here = relay({ name, mode: 'shared-tab', livenessMs: 200, callTimeoutMs: 3000 })
    return { here, goAway: () => commands.closeTab(tab) }
  },
}

describe.each(Object.entries(failures))('recovery after %s', (_, failure) => {
  it.each(Object.entries(protocols))('%s', async (_, protocol) => {
    const { here, goAway } = await failure()
    const before = (await here.ready).hubId
    const turn = await protocol.start()
    await here.open(turn.spec)
    const seen = recorder()
    here.subscribe({ runId: turn.spec.runId }, seen.handlers, { startAt: 'beginning' })
    await waitFor(() => seen.events.length >= 10, { what: 'the first events' })

    await goAway()
    await waitFor(() => seen.ended || seen.errors.length > 0, { timeoutMs: 20_000, what: 'the run to end or fail on the new hub' })
    expect((await here.diagnostics()).hubId).not.toBe(before)
    expect(seen.statuses).toContain('reconnecting')
    const sent = await turn.sent()
    const got = wireShape(seen.events)
    if (protocol.expect === 'whole') {
      expect(got, `resyncs: ${seen.resyncs.join(', ')}`).toEqual(sent)
      expect(seen.resyncs).toEqual([])
    } else {
      expect(seen.errors.map((e) => e.code)).toEqual(['unresumable'])
      expect(got).toEqual(sent.slice(0, got.length)) // a prefix, nothing doubled, and said so
      expect(got.length).toBeLessThan(sent.length)
    }
    // A POST is never sent twice; a GET run without resume is never asked again either.
    expect(await turn.requests()).toBe(protocol.expect === 'whole' && turn.spec.method !== 'POST' ? 2 : 1)
  })
})

describe('RelayChatTransport on a new hub', () => {
  it('errors its stream with a RelayError when the resumed reply cannot be made whole: useChat never hangs', async () => {
    const { relay: here, kill } = await killableRelay(uniqueName('killed'), { livenessMs: 200, callTimeoutMs: 1000 })
    const chatId = uniqueName('chat')
    // The resume GET finds nothing (204), as it does once a turn has ended: the new hub cannot replay what the page had.
    const transport = new RelayChatTransport({ relay: here, api: '/api/ai/chat', resumeUrl: () => `/api/ai/chat/${chatId}-gone/stream`, body: { tokens: 200, rate: 50 } })
    const stream = await transport.sendMessages({
      chatId, trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
      messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'recover me' }] }],
    })
    const chunks: unknown[] = []
    const reader = stream.getReader()
    const read = (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return 'closed'
        chunks.push(value)
      }
    })().catch((error: unknown) => error)
    await waitFor(() => chunks.length >= 10, { what: 'the first chunks' })
    await kill()
    const outcome = await waitFor(() => Promise.race([read, new Promise((resolve) => setTimeout(resolve, 50, undefined))]), { timeoutMs: 20_000, what: 'the stream to settle' })
    expect(outcome).toBeInstanceOf(RelayError)
    expect((outcome as RelayError).code).toBe('unresumable')
    expect((outcome as RelayError).message).toMatch(/incomplete \(server_lost_events\)/)
    const { posts } = (await (await fetch(`/api/ai/chat/posts?id=${encodeURIComponent(chatId)}`)).json()) as { posts: number }
    expect(posts).toBe(1)
  })
})
