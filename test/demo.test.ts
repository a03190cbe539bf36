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
