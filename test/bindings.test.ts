import { derived, fromStore, get } from 'svelte/store'
import { describe, expect, it } from 'vitest'
import { createApp, defineComponent, h, nextTick, ref } from 'vue'
import type { RunRelay } from '../src/index.ts'
import { runsStore, sessionStore, type RunView } from '../src/store.ts'
import { provideRunRelay, useRun, useRuns, useSession } from '../src/vue.ts'
import { finishedTranscript, specOf, startRun, uniqueName, useRelays, waitFor, type StartedRun } from './helpers.ts'

/**
 * The framework-neutral stores (run-relay/store) and the Vue and Svelte bindings on them, in real
 * browsers against the dev chat server. Each binding's cleanup is pinned by counting the hub's
 * subscriptions after unmount (React's are in react.test.ts).
 */
const relay = useRelays('bindings')
const textOf = (data: string) => (JSON.parse(data) as { text?: string }).text ?? ''
const sentText = async (run: StartedRun) => (await finishedTranscript(run.streamId)).filter((e) => e.event === 'token').map((e) => textOf(e.data)).join('')
const subscriptions = async (hub: RunRelay) => Object.values((await hub.diagnostics()).subscriptionsByClient).reduce((sum, count) => sum + count, 0)

describe('run-relay/store', () => {
  it('sessionStore: subscribes on its first listener, tells each batch once, ends whole, and unsubscribes after its last listener', async () => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const run = await startRun(sessionId, 'store', { tokens: 40, rate: 100 })
    const store = sessionStore(hub, sessionId)
    expect(await subscriptions(hub), 'a store with no listener holds nothing').toBe(0)
    const seen: Array<RunView<string>> = []
    const unsubscribe = store.subscribe((view) => seen.push(view))
    expect(seen, 'subscribe calls back at once (the Svelte store contract)').toHaveLength(1)
    const listened: Array<RunView<string>> = []
    const unlisten = store.listen((view) => listened.push(view))
    expect(listened, 'listen calls back on changes only').toHaveLength(0)
    await hub.open(specOf(run))
    await waitFor(() => store.get().status === 'ended', { what: 'the run to end in the store' })
    expect(store.get().state).toBe(await sentText(run))
    expect(store.get().runId).toBe(run.streamId)
    // Never a notification without a change, and the same value to every listener.
    expect(new Set(listened).size).toBe(listened.length)
    expect(listened.at(-1)).toBe(store.get())
    unsubscribe()
    expect(await subscriptions(hub), 'one listener left').toBeGreaterThan(0)
    unlisten()
    await waitFor(async () => (await subscriptions(hub)) === 0, { what: 'the store to unsubscribe after its last listener' })
  })

  it('a 10,000-event catch-up is one notification; a second subscription rebuilds the same state, not a doubled one', async () => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const run = await startRun(sessionId, 'long', { tokens: 10_000, rate: 10_000_000 })
    await hub.open(specOf(run))
    await waitFor(async () => (await hub.diagnostics()).runs[0]?.status === 'ended', { timeoutMs: 20_000, what: 'the long run to end in the hub' })
    const store = sessionStore(hub, sessionId)
    let notifications = 0
    const stop = store.listen(() => notifications++)
    await waitFor(() => store.get().status === 'ended', { what: 'the catch-up' })
    const text = await sentText(run)
    expect(store.get().state).toBe(text)
    expect(notifications, 'notifications for a catch-up of 10,000 events').toBeLessThanOrEqual(2)
    stop()
    const again = store.listen(() => {})
    await waitFor(() => store.get().status === 'ended' && store.get().eventCount > 0, { what: 'the second catch-up' })
    expect(store.get().state).toBe(text)
    again()
  })

  it('runsStore lists the hub’s runs while listened to', async () => {
    const hub = relay()
    const run = await startRun(uniqueName('session'), 'runs', { tokens: 5, rate: 100 })
    const store = runsStore(hub)
    const stop = store.subscribe(() => {})
    await hub.open(specOf(run))
    await waitFor(() => store.get().some((summary) => summary.runId === run.streamId && summary.status === 'ended'), { what: 'the run in the list' })
    stop()
  })
})

describe('run-relay/svelte (the store contract Svelte reads)', () => {
  it('`$store` through svelte/store: derived text whole, get() leaves nothing subscribed, fromStore reads .current', async () => {
    const hub = relay()
    const sessionId = uniqueName('session')
    const run = await startRun(sessionId, 'svelte', { tokens: 30, rate: 100 })
    const store = sessionStore(hub, sessionId)
    expect(get(store).state, 'get() of an idle store').toBe('')
    await waitFor(async () => (await subscriptions(hub)) === 0, { what: 'get() to unsubscribe' })
    const text = derived(store, (view) => view.state)
    let shown = ''
    const stop = text.subscribe((value) => (shown = value))
    await hub.open(specOf(run))
    await waitFor(() => get(store).status === 'ended' && shown.length > 0 && shown === get(text), { what: 'the derived text' })
    expect(shown).toBe(await sentText(run))
    expect(fromStore(store).current.state).toBe(shown)
    stop()
    await waitFor(async () => (await subscriptions(hub)) === 0, { what: 'the derived store to unsubscribe from ours' })
  })
})

describe('run-relay/vue', () => {
  it('useSession follows a ref (a switch moves the subscription), useRun and useRuns render whole; unmount leaves no subscription', async () => {
    const hub = relay()
    const [a, b] = [uniqueName('session'), uniqueName('session')]
    const runA = await startRun(a, 'vue A', { tokens: 30, rate: 100 })
    const runB = await startRun(b, 'vue B', { tokens: 30, rate: 100 })
    const chat = ref<string | undefined>(a)
    const Chat = defineComponent(() => {
      const view = useSession(chat)
      const reply = useRun(() => runB.streamId)
      const runs = useRuns()
      return () => h('div', [
        h('p', { 'data-testid': 'chat', 'data-status': view.value.status ?? '', 'data-run': view.value.runId ?? '' }, view.value.state),
        h('p', { 'data-testid': 'reply', 'data-status': reply.value.status ?? '' }, reply.value.state),
        h('ul', runs.value.map((summary) => h('li', { key: summary.runId, 'data-testid': 'run' }, summary.runId))),
      ])
    })
    const Root = defineComponent(() => {
      provideRunRelay(hub)
      return () => h(Chat)
    })
    const host = document.createElement('div')
    document.body.append(host)
    const app = createApp(Root)
    app.mount(host)
    try {
      const shown = (id: string) => host.querySelector<HTMLElement>(`[data-testid=${id}]`)!
      await hub.open(specOf(runA))
      await hub.open(specOf(runB))
      await waitFor(() => shown('chat').dataset.status === 'ended' && shown('reply').dataset.status === 'ended', { what: 'both runs to end on screen' })
      expect(shown('chat').textContent).toBe(await sentText(runA))
      expect(shown('reply').textContent).toBe(await sentText(runB))
      await waitFor(() => host.querySelectorAll('[data-testid=run]').length === 2, { what: 'the runs list' })
      chat.value = b
      await nextTick()
      await waitFor(() => shown('chat').dataset.run === runB.streamId && shown('chat').dataset.status === 'ended', { what: 'the switch to chat B' })
      expect(shown('chat').textContent).toBe(await sentText(runB))
      chat.value = undefined
      await waitFor(() => shown('chat').dataset.run === '' && shown('chat').textContent === '', { what: 'no chat' })
    } finally {
      app.unmount()
      host.remove()
    }
    await waitFor(async () => (await subscriptions(hub)) === 0, { what: 'every subscription to go with the app' })
  })

  it('provideRunRelay() with options creates a relay and disposes it with the component', async () => {
    let made: RunRelay | undefined
    const Root = defineComponent(() => {
      made = provideRunRelay({ name: uniqueName('vue-provider') })
      return () => h('p', 'provider')
    })
    const host = document.createElement('div')
    const app = createApp(Root)
    app.mount(host)
    await made!.ready
    app.unmount()
    await waitFor(() => made!.diagnostics().then(() => false, (error: { code?: string }) => error.code === 'disposed'), { what: 'the relay to be disposed with the app' })
  })
})
