import { Activity, createElement, StrictMode } from 'react'
import { render } from 'vitest-browser-react'
import { describe, expect, it } from 'vitest'
import type { RunRelay } from '../src/index.ts'
import { RunRelayProvider, useRun, useRunRelay, useRuns, useSession } from '../src/react.ts'
import { finishedTranscript, specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** The React hooks, rendered in StrictMode in real Chromium against the dev chat server. */
const relay = useRelays('react')
const textOf = (data: string) => (JSON.parse(data) as { text?: string }).text ?? ''

function Chat(props: { sessionId: string; renders: { count: number } }) {
  const view = useSession(props.sessionId)
  props.renders.count++
  return createElement('div', { 'data-testid': `chat-${props.sessionId}`, 'data-status': view.status ?? '', 'data-run': view.runId ?? '' }, view.state)
}

function Reply(props: { runId: string }) {
  const view = useRun(props.runId)
  return createElement('div', { 'data-testid': `reply-${props.runId}`, 'data-status': view.status ?? '' }, view.state)
}

function Sidebar() {
  const runs = useRuns()
  return createElement('ul', null, runs.map((run) => createElement('li', { key: run.runId, 'data-testid': 'run', 'data-status': run.status }, run.runId)))
}

function Expose(props: { found: { relay?: RunRelay } }) {
  props.found.relay = useRunRelay()
  return null
}

describe('RunRelayProvider without a relay prop', () => {
  it('in StrictMode (development: effects run, clean up, run again) keeps a live relay: a run opened after mount streams whole; unmount disposes it', async () => {
    const sessionId = uniqueName('session')
    const found: { relay?: RunRelay } = {}
    const renders = { count: 0 }
    const app = createElement(StrictMode, null, createElement(RunRelayProvider, { options: { name: uniqueName('provider') } }, createElement(Expose, { found }), createElement(Chat, { sessionId, renders })))
    const screen = await render(app)
    const run = await startRun(sessionId, 'provider turn', { tokens: 30, rate: 100 })
    await found.relay!.open(specOf(run)) // rejected with `disposed` before the fix
    const chat = () => screen.container.querySelector<HTMLElement>(`[data-testid=chat-${sessionId}]`)!
    await waitFor(() => chat().dataset.status === 'ended', { what: 'the run to end on screen' })
    const text = (await finishedTranscript(run.streamId)).filter((e) => e.event === 'token').map((e) => textOf(e.data)).join('')
    expect(chat().textContent).toBe(text)
    const relay = found.relay!
    screen.unmount()
    await waitFor(() => relay.diagnostics().then(() => false, (error: { code?: string }) => error.code === 'disposed'), { what: 'the unmounted provider to dispose its relay' })
  })

  it('shown again after <Activity mode="hidden"> (its effects cleaned up) gives a live relay', async () => {
    const found: { relay?: RunRelay } = {}
    const app = (mode: 'visible' | 'hidden') => createElement(Activity, { mode, children: createElement(RunRelayProvider, { options: { name: uniqueName('provider') } }, createElement(Expose, { found })) })
    const screen = await render(app('visible'))
    const first = found.relay!
    await screen.rerender(app('hidden'))
    // Hidden, its effects are cleaned up and its relay disposed: shown again, the provider must give a new one.
    await waitFor(() => first.diagnostics().then(() => false, (error: { code?: string }) => error.code === 'disposed'), { what: 'the hidden provider to dispose its relay' })
    await screen.rerender(app('visible'))
    await waitFor(() => found.relay!.diagnostics().then(() => true), { what: 'a live relay after showing the provider again' })
    screen.unmount()
  })
})

describe('useSession, useRuns', () => {
  it('render the text the server sent, whole, in StrictMode; a new run resets the view; unmount leaves no subscription', async () => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const renders = { count: 0 }
    const screen = await render(createElement(StrictMode, null, createElement(RunRelayProvider, { relay: hub }, createElement(Chat, { sessionId, renders }), createElement(Sidebar))))
    const first = await startRun(sessionId, 'first turn', { tokens: 40, rate: 80 })
    await hub.open(specOf(first))
    const chat = () => screen.container.querySelector<HTMLElement>(`[data-testid=chat-${sessionId}]`)!
    await waitFor(() => chat().dataset.status === 'ended', { what: 'the first run to end on screen' })
    const text = (await finishedTranscript(first.streamId)).filter((e) => e.event === 'token').map((e) => textOf(e.data)).join('')
    expect(chat().textContent).toBe(text)
    await waitFor(() => screen.container.querySelector('[data-testid=run]')?.getAttribute('data-status') === 'ended', { what: 'the sidebar' })

    const second = await startRun(sessionId, 'second turn', { tokens: 20, rate: 80 })
    await hub.open(specOf(second))
    await waitFor(() => chat().dataset.run === second.streamId && chat().dataset.status === 'ended', { what: 'the second run to replace the first' })
    const secondText = (await finishedTranscript(second.streamId)).filter((e) => e.event === 'token').map((e) => textOf(e.data)).join('')
    expect(chat().textContent).toBe(secondText)

    screen.unmount()
    await waitFor(async () => Object.values((await hub.diagnostics()).subscriptionsByClient).every((count) => count === 0), { what: 'every subscription to go with the component' })
  })

  it('a reply hidden and shown again (<Activity>, a tab switch) resubscribes without doubling its text', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('session'), 'hide and show', { tokens: 30, rate: 100 })
    await hub.open(specOf(run))
    const app = (mode: 'visible' | 'hidden') => createElement(RunRelayProvider, { relay: hub }, createElement(Activity, { mode, children: createElement(Reply, { runId: run.streamId }) }))
    const screen = await render(app('visible'))
    const reply = () => screen.container.querySelector<HTMLElement>(`[data-testid=reply-${run.streamId}]`)!
    await waitFor(() => reply().dataset.status === 'ended', { what: 'the run to end on screen' })
    await screen.rerender(app('hidden'))
    await waitFor(async () => Object.values((await hub.diagnostics()).subscriptionsByClient).every((count) => count === 0), { what: 'the hidden reply to unsubscribe' })
    await screen.rerender(app('visible'))
    const text = (await finishedTranscript(run.streamId)).filter((e) => e.event === 'token').map((e) => textOf(e.data)).join('')
    await waitFor(async () => Object.values((await hub.diagnostics()).subscriptionsByClient).some((count) => count > 0), { what: 'the shown reply to subscribe again' })
    await waitFor(() => reply().dataset.status === 'ended')
    expect(reply().textContent).toBe(text)
    screen.unmount()
  })

  it('renders a 10,000-event catch-up once', async () => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const run = await startRun(sessionId, 'long', { tokens: 10_000, rate: 10_000_000 })
    await hub.open(specOf(run))
    await waitFor(async () => (await hub.diagnostics()).runs[0]?.status === 'ended', { timeoutMs: 20_000, what: 'the long run to end in the hub' })
    const renders = { count: 0 }
    const screen = await render(createElement(RunRelayProvider, { relay: hub }, createElement(Chat, { sessionId, renders })))
    const chat = () => screen.container.querySelector<HTMLElement>(`[data-testid=chat-${sessionId}]`)!
    await waitFor(() => chat().dataset.status === 'ended', { what: 'the catch-up to render' })
    const text = (await finishedTranscript(run.streamId)).filter((e) => e.event === 'token').map((e) => textOf(e.data)).join('')
    expect(chat().textContent).toBe(text)
    // First render, the session's run, the events as one batch, the status: no render per event.
    expect(renders.count).toBeLessThanOrEqual(4)
    screen.unmount()
  })
})
