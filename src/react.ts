/**
 * React bindings: `RunRelayProvider`, and hooks over the stores of `run-relay/store` (`useRun`, `useSession`, `useRuns`, `useRunRelay`).
 *
 * @module run-relay/react
 */
'use client'

import { createContext, createElement, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react'
import { createRunRelay } from './client.ts'
import type { RunSummary, SubscriptionTarget } from '../common/model.ts'
import type { RelayOptions, RunRelay } from './relay-types.ts'
import { runsStore, runStore, sessionStore, type ReadableStore, type RunStoreOptions, type RunView } from './store.ts'

/**
 * React bindings: a provider and hooks over `useSyncExternalStore`, reading the stores of
 * `run-relay/store`. A hook's subscription lives exactly as long as a component reads it
 * (StrictMode's extra mount and unmount leave nothing behind). A batch the hub delivers is one
 * store notification, so one render: a 10,000-event catch-up renders once.
 */

const RelayContext = createContext<RunRelay | undefined>(undefined)

/** Relays a provider disposed: its effect, run again (shown after `<Activity mode="hidden">`), replaces them. */
const disposedRelays = new WeakSet<RunRelay>()

/**
 * Gives its children a relay: the one you pass, or one it creates (and disposes on unmount).
 * Its own relay survives StrictMode: in development React cleans the effect up and runs it
 * again at once; the disposal waits a task and that second run cancels it. The relay connects
 * on first use, so the extra one StrictMode's double render creates holds nothing.
 */
export function RunRelayProvider(props: { relay?: RunRelay; options?: RelayOptions; children?: ReactNode }): ReactNode {
  const [own, setOwn] = useState(() => (props.relay ? undefined : createRunRelay(props.options)))
  const disposal = useRef<{ relay: RunRelay; timer: ReturnType<typeof setTimeout> } | undefined>(undefined)
  useEffect(() => {
    if (!own) return
    if (disposedRelays.has(own)) return void setOwn(createRunRelay(props.options))
    if (disposal.current?.relay === own) clearTimeout(disposal.current.timer)
    disposal.current = undefined
    return () => {
      const timer = setTimeout(() => {
        disposedRelays.add(own)
        own.dispose()
      })
      disposal.current = { relay: own, timer }
    }
  }, [own]) // eslint-disable-line react-hooks/exhaustive-deps -- the options of the first render are kept
  return createElement(RelayContext.Provider, { value: props.relay ?? own }, props.children)
}

/** The relay of the nearest `RunRelayProvider`, or `given`. */
export function useRunRelay(given?: RunRelay): RunRelay {
  const fromContext = useContext(RelayContext) // called on every render: hooks keep their order
  const relay = given ?? fromContext
  if (!relay) throw new Error('useRunRelay: no relay here. Wrap your app in <RunRelayProvider>, or pass `relay` to the hook.')
  return relay
}

export { textOf, textReducer, type RunReducer, type RunView } from './store.ts'

/** Options of `useRun` and `useSession`: the store's reducer, and a relay other than the provider's. */
export interface HookOptions<S> extends RunStoreOptions<S> {
  /** Another relay than the provider's. */
  relay?: RunRelay
}

/** Follows one run: status, error and its events folded by a reducer (its text by default). */
export function useRun<S = string>(runId: string | undefined, options: HookOptions<S> = {}): RunView<S> {
  return useTarget(runId === undefined ? undefined : { runId }, options)
}

/** Follows a session's current run, and every later one: the view resets when a new run starts. */
export function useSession<S = string>(sessionId: string | undefined, options: HookOptions<S> = {}): RunView<S> {
  return useTarget(sessionId === undefined ? undefined : { sessionId }, options)
}

/** Every run the hub holds (the sidebar's running dots), at once and after every change. */
export function useRuns(options: { relay?: RunRelay } = {}): RunSummary[] {
  const relay = useRunRelay(options.relay)
  const store = useMemo(() => runsStore(relay), [relay])
  return useSyncExternalStore(store.listen, store.get, store.get)
}

const idle = new Map<string, ReadableStore<RunView<unknown>>>()

function useTarget<S>(target: SubscriptionTarget | undefined, options: HookOptions<S>): RunView<S> {
  const relay = useRunRelay(options.relay)
  const key = target === undefined ? '' : 'runId' in target ? `run:${target.runId}` : `session:${target.sessionId}`
  // One store per relay and target; the reducer and initial state of the first render are kept.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const store = useMemo(() => (target === undefined ? idleStore<S>(options.initial) : 'runId' in target ? runStore(relay, target.runId, options) : sessionStore(relay, target.sessionId, options)), [relay, key])
  return useSyncExternalStore(store.listen, store.get, store.get)
}

/** The view of no run: a store that never changes. */
function idleStore<S>(initial: S | undefined): ReadableStore<RunView<S>> {
  const key = JSON.stringify(initial ?? '')
  let store = idle.get(key)
  if (!store) {
    const view: RunView<unknown> = { runId: undefined, status: undefined, error: undefined, state: initial ?? '', eventCount: 0, incomplete: false, isStreaming: false, isError: false, stop: () => {} }
    store = { get: () => view, listen: () => () => {}, subscribe: (listener) => (listener(view), () => {}) }
    idle.set(key, store)
  }
  return store as ReadableStore<RunView<S>>
}
