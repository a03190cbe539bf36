import { commands } from 'vitest/browser'
import { expect, it } from 'vitest'
import { finishedTranscript, uniqueName, waitFor, type ServerStreamStats } from './helpers.ts'

/** Drives the demo chat page (index.html) in a real tab through its data-testid hooks. */
it('demo: two chats, switching chats and panes, both replies whole, one connection per run', async () => {
  const tab = await commands.openTab(`/index.html?relay=${uniqueName('demo')}&tokens=60&rate=30`)
  const inTab = <T>(expression: string) => commands.evalInTab<T>(tab, expression)
  const click = (selector: string) => inTab(`document.querySelector(${JSON.stringify(selector)}).click()`)
  const send = async (text: string) => {
    await inTab(`document.querySelector('[data-testid=composer]').value = ${JSON.stringify(text)}`)
    await click('[data-testid=send]')
  }
  const sessions = () => inTab<Array<{ id: string; running: string }>>(`[...document.querySelectorAll('[data-testid=session-item]')].map((el) => ({ id: el.dataset.sessionId, running: el.dataset.running }))`)
  // The reply's text without its tool chips.
  const replyIn = (pane: number) => inTab<string>(`(() => {
    const bubble = document.querySelectorAll('[data-testid=pane]')[${pane}].querySelector('[data-testid=message][data-role=assistant]')
    return [...(bubble?.childNodes ?? [])].filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.textContent).join('')
  })()`)

  await click('[data-testid=new-chat]')
  await send('first question')
  await waitFor(async () => (await replyIn(0)).length > 20, { what: 'the first reply to start' })
  await click('[data-testid=new-chat]')
  await send('second question')
  const [second, first] = await sessions()
  await waitFor(async () => (await sessions()).every((s) => s.running === 'true'), { what: 'both chats to show as running' })

  // Back to the first chat while both run, then split: the second chat in the other pane.
  await click(`[data-session-id="${first!.id}"]`)
  await inTab(`document.querySelector('#split').click()`)
  await inTab(`document.querySelectorAll('[data-testid=pane]')[1].click()`)
  await click(`[data-session-id="${second!.id}"]`)
  await waitFor(async () => (await sessions()).every((s) => s.running === 'false'), { what: 'both runs to end', timeoutMs: 20_000 })

  const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats & { sessionId: string }> }
  const streamOf = (sessionId: string) => Object.entries(streams).find(([, s]) => s.sessionId === sessionId)!
  for (const [pane, session] of [[0, first!], [1, second!]] as const) {
    const [streamId, stats] = streamOf(session.id)
    const tokens = (await finishedTranscript(streamId)).filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text)
    await waitFor(async () => (await replyIn(pane)) === tokens.join(''), { what: `pane ${pane} to show the whole reply` })
    expect(stats.opened).toBe(1)
  }
  await commands.closeTab(tab)
})

/** The demo as a person sees it, on a desktop and on a phone. */
for (const [width, height] of [[1280, 800], [390, 844]] as const) {
  it(`demo at ${width}×${height}: no sideways scroll, the composer in view after long replies, Send reachable, Stop works, the inspector matches the hub`, async () => {
    // Replies of 150 tokens at 300/s: long enough to be seen running in a slower engine, quick to wait for.
    const tab = await commands.openTab(`/index.html?relay=${uniqueName('demo-size')}&rate=300&tokens=150`)
    await commands.setViewport(tab, width, height)
    const inTab = <T>(expression: string) => commands.evalInTab<T>(tab, expression)
    const click = (selector: string) => inTab(`document.querySelector(${JSON.stringify(selector)}).click()`)
    const RUNNING = `(!document.querySelector('[data-testid=stop]').hidden || [...document.querySelectorAll('[data-testid=message][data-role=assistant]')].some((m) => !['ended', 'failed'].includes(m.dataset.status)))`
    const runningFocused = () => inTab<boolean>(RUNNING)
    const replies = () => inTab<number>(`document.querySelectorAll('[data-testid=message][data-role=assistant]').length`)
    const send = async (text: string) => {
      await waitFor(async () => !(await runningFocused()), { what: 'the composer to be free' })
      const before = await replies()
      await inTab(`document.querySelector('[data-testid=composer]').value = ${JSON.stringify(text)}`)
      await click('[data-testid=send]')
      await waitFor(async () => (await replies()) === before + 1, { what: `the reply to "${text}" to start` })
    }
    await click('[data-testid=new-chat]')
    for (const question of ['explain the hub in detail', 'and the budget?', 'what about reloads?']) {
      await send(question)
      await waitFor(async () => !(await runningFocused()), { what: `the reply to "${question}" to end`, timeoutMs: 20_000 })
    }

    const layout = await inTab<{ scrollWidth: number; innerWidth: number; innerHeight: number; composer: DOMRect; send: DOMRect; main: DOMRect; hit: boolean; paneScrolls: boolean }>(`(() => {
      const send = document.querySelector('[data-testid=send]')
      const box = send.getBoundingClientRect()
      const pane = document.querySelector('[data-testid=pane]')
      return {
        scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
        innerWidth, innerHeight,
        composer: document.querySelector('[data-testid=composer]').getBoundingClientRect().toJSON(),
        send: box.toJSON(),
        main: document.querySelector('main').getBoundingClientRect().toJSON(),
        hit: send.contains(document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2)),
        paneScrolls: pane.scrollHeight > pane.clientHeight,
      }
    })()`)
    expect(layout.scrollWidth, 'no horizontal scroll').toBeLessThanOrEqual(layout.innerWidth)
    expect(layout.paneScrolls, 'long replies scroll inside the pane').toBe(true)
    expect(layout.composer.bottom, 'composer inside the viewport').toBeLessThanOrEqual(layout.innerHeight)
    expect(layout.composer.top).toBeGreaterThanOrEqual(0)
    expect(layout.hit, 'Send can be clicked').toBe(true)
    if (width < 760) {
      expect(layout.main.width / layout.innerWidth, 'chat column, drawer closed').toBeGreaterThanOrEqual(0.8)
      // A new chat without opening the drawer: the top bar has its own +.
      expect(await inTab<boolean>(`(() => { const b = document.querySelector('[data-testid=new-chat-top]').getBoundingClientRect(); return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2)?.dataset.testid === 'new-chat-top' })()`)).toBe(true)
    }
    await commands.screenshotTab(tab, `test/__screenshots__/demo-${width}x${height}.png`)

    // Stop: a long reply ends at once, and the composer is free again.
    await send('one more, then stop it')
    // Running and the composer's state in one read: two reads could straddle the end of the reply.
    const whileRunning = await waitFor(() => inTab<{ composerDisabled: boolean } | false>(`${RUNNING} && { composerDisabled: document.querySelector('[data-testid=composer]').disabled }`), { what: 'the reply to run' })
    expect((whileRunning as { composerDisabled: boolean }).composerDisabled, 'the composer waits while the reply runs').toBe(true)
    await click('[data-testid=stop]')
    await waitFor(async () => !(await runningFocused()), { what: 'Stop to end the run' })

    // The inspector shows what the hub says.
    await click('[data-testid=toggle-inspector]')
    type InspectorFigures = { rendered: Record<string, string[]>; connections: string; hub: { runs: Array<{ runId: string; status: string; eventCount: number; subscriberCount: number }>; budget: { open: number; limit: number } } }
    // What the inspector shows next to a fresh relay.diagnostics(); undefined until it has rendered every run.
    const readInspector = () => inTab<InspectorFigures | undefined>(`(async () => {
      const inspector = document.querySelector('[data-testid=inspector]')
      if (!inspector?.shown) return undefined
      const hub = await demoRelay.diagnostics()
      const rows = [...inspector.shadowRoot.querySelectorAll('tr[data-run-id]')]
      if (rows.length !== hub.runs.length) return undefined
      const rendered = Object.fromEntries(rows.map((row) => [row.dataset.runId, ['status', 'events', 'subscribers'].map((f) => row.querySelector('[data-field=' + f + ']').textContent)]))
      return { rendered, connections: inspector.shadowRoot.querySelector('[data-field=connections]').textContent, hub }
    })()`)
    const figures = await waitFor(async () => {
      const fresh = await readInspector()
      if (!fresh) return undefined
      expect(fresh.rendered).toEqual(Object.fromEntries(fresh.hub.runs.map((run) => [run.runId, [run.status, String(run.eventCount), String(run.subscriberCount)]])))
      expect(fresh.connections).toBe(`${fresh.hub.budget.open} / ${fresh.hub.budget.limit}`)
      return fresh
    }, { what: 'the inspector figures to match relay.diagnostics()' })
    expect(Object.keys(figures.rendered)).toHaveLength(4)
    await commands.screenshotTab(tab, `test/__screenshots__/demo-${width}x${height}-inspector.png`)
    await commands.closeTab(tab)
  })
}

it('demo: a run id that a URL must encode (# and &) streams to its end', async () => {
  const tab = await commands.openTab(`/index.html?relay=${uniqueName('demo-encoded')}&tokens=20&rate=100`)
  const inTab = <T>(expression: string) => commands.evalInTab<T>(tab, expression)
  // The dev server names this tab's streams with characters a URL must encode.
  await inTab(`(() => {
    const realFetch = window.fetch
    window.fetch = (input, init) => String(input) === '/api/chat/start'
      ? realFetch(input, { ...init, body: JSON.stringify({ ...JSON.parse(init.body), stream_id_prefix: 'a#b&c=' }) })
      : realFetch(input, init)
  })()`)
  await inTab(`document.querySelector('[data-testid=new-chat]').click()`)
  await inTab(`document.querySelector('[data-testid=composer]').value = 'encode me'`)
  await inTab(`document.querySelector('[data-testid=send]').click()`)
  const status = () => inTab<string | undefined>(`document.querySelector('[data-testid=message][data-role=assistant]')?.dataset.status`)
  await waitFor(async () => ['ended', 'failed'].includes((await status()) ?? ''), { what: 'the reply to end' })
  expect(await status()).toBe('ended')
  const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, ServerStreamStats> }
  const streamId = Object.keys(streams).find((id) => id.startsWith('a#b&c=') && streams[id]!.opened > 0)
  expect(streamId).toBeDefined()
  await commands.closeTab(tab)
})
